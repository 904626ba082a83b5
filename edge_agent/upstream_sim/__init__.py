"""The reference upstream: a fake central API for the sync tests and for field testing (upstream.md §3).

It serves the replay routes, the batch route and the bundle route, deduplicates by Idempotency-Key,
accounts sequence numbers per agent, injects faults on demand, and is steered through ``/sim/*``.
See ``docs/upstream-sim.md``.

A package of its own (``edge-agent upstream-sim`` serves it for field tests). Besides aiohttp, pydantic
and orjson it imports ``edge_agent.clock`` and three shared rules: the SDK path rule
(``paths.sdk_path``: ``/v2`` and slashes), which statuses are retryable (``sync.client.retryable``: only
those carry a ``Retry-After``) and the bundle's collections (``storage.bundles.COLLECTIONS``: what a
delta carries). Bundles are otherwise opaque JSON here, and the
agent's drain, pull and jobs are never imported (``pyproject.toml``'s import-linter contracts), so the
reference upstream cannot share the agent's bugs.
"""

from edge_agent.upstream_sim.app import create_upstream_app
from edge_agent.upstream_sim.faults import FaultConfig

__all__ = ["FaultConfig", "create_upstream_app"]
