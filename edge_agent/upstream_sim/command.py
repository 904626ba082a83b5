"""``edge-agent upstream-sim``: run the reference upstream on a port (also
``python -m edge_agent.upstream_sim.command``, which the subprocess tests and benches use).

Served as the agent serves (``agent/server.py``): an ``AppRunner`` and a ``TCPSite`` on the running loop,
"listening on …" logged only once the socket is bound, and SIGTERM or SIGINT stopping it gracefully
(requests in flight finish, the received-items file is closed), exit status 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click
from aiohttp import web
from pydantic import ValidationError

from edge_agent.upstream_sim.app import create_upstream_app
from edge_agent.upstream_sim.faults import FaultConfig
from edge_agent.upstream_sim.shared import validation_errors

log = logging.getLogger(__name__)


async def serve_until_signalled(app: web.Application, host: str, port: int) -> None:
    """Serve ``app`` on ``host:port`` until SIGTERM or SIGINT, then clean up (cleanup contexts run).

    Raises ``click.ClickException`` when the address cannot be bound."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
        log.info("upstream-sim listening on http://%s:%d", host, runner.addresses[0][1])
        await stop.wait()
        log.info("upstream-sim stopping")
    finally:
        await runner.cleanup()


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
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve_until_signalled(app, host, port))


if __name__ == "__main__":
    upstream_sim()
