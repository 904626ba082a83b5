"""``upstream-sim``: run the reference upstream on a port.

Until the ``edge-agent`` group registers it: ``python -m edge_agent.sync.simulator.command --data DIR``.
"""

from __future__ import annotations

from pathlib import Path

import click
from aiohttp import web
from pydantic import ValidationError

from edge_agent.sync.simulator.app import create_upstream_app
from edge_agent.sync.simulator.faults import FaultConfig
from edge_agent.sync.simulator.shared import validation_errors


def _latency(value: str | None) -> float | tuple[float, float] | None:
    """``"50"`` → 50.0, ``"50,200"`` → (50.0, 200.0)."""
    if value is None:
        return None
    try:
        parts = [float(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter("expected MS or MIN,MAX", param_hint="--latency-ms") from None
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return (parts[0], parts[1])
    raise click.BadParameter("expected MS or MIN,MAX", param_hint="--latency-ms")


@click.command("upstream-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8788, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="State directory: upstream.db and bundles/ (created if missing).",
)
@click.option("--keys", multiple=True, help="Accepted bearer token (repeatable). None = any bearer.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Chance of an injected 503.")
@click.option("--latency-ms", help="Added latency: MS or MIN,MAX.")
@click.option("--seed", type=int, help="Seed for reproducible fault randomness.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Fleet-wide limit: calls per second over all data routes; above it 429 with Retry-After: 1.",
)
def upstream_sim(
    host: str,
    port: int,
    data_dir: Path,
    keys: tuple[str, ...],
    error_rate: float,
    latency_ms: str | None,
    seed: int | None,
    rate: float | None,
) -> None:
    """Run the reference upstream: a fake central API that records what agents push, serves bundle
    versions from DIR/bundles, and injects faults on demand (POST /sim/faults)."""
    try:
        faults = FaultConfig(error_rate=error_rate, latency_ms=_latency(latency_ms), seed=seed)
    except ValidationError as exc:
        raise click.ClickException("; ".join(validation_errors(exc))) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "bundles").mkdir(exist_ok=True)
    app = create_upstream_app(data_dir, keys=list(keys) or None, faults=faults, rate=rate)
    web.run_app(app, host=host, port=port)


if __name__ == "__main__":
    upstream_sim()
