"""The reference upstream: a fake central API for the sync tests and for field testing (upstream.md §3).

It serves the replay routes, the batch route and the bundle route, deduplicates by Idempotency-Key,
accounts sequence numbers per agent, injects faults on demand, and is steered through ``/sim/*``.
See ``docs/upstream-sim.md``.

Imports aiohttp, pydantic, orjson and ``edge_agent.clock`` only: bundles are opaque JSON here, so
nothing of the agent or of ``storage`` is imported, and the simulator cannot share the agent's bugs.
"""

from edge_agent.sync.simulator.app import create_upstream_app
from edge_agent.sync.simulator.faults import FaultConfig

__all__ = ["FaultConfig", "create_upstream_app"]
