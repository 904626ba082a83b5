"""Sync with the central API: upstream client, outbox drain (push), bundle pull, scheduler, and the
reference upstream (``simulator``) used by tests and for field testing.

May import ``storage`` and ``config`` (and aiohttp); never ``agent``. The agent passes callbacks in (e.g.
"a new bundle was stored") instead of being imported.
"""
