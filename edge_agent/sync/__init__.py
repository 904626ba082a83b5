"""Sync with the central API: the upstream client, the outbox drain (push), the bundle pull and the
sync jobs. The reference upstream is its own package, ``edge_agent.upstream_sim``.

May import ``storage`` and ``config`` (and aiohttp); never ``agent``. The agent passes callbacks in (e.g.
"a new bundle was stored") instead of being imported.
"""
