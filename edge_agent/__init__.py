"""edge-agent: the personalization SDK API, answered locally from SQLite, synced upstream when online.

Subpackages, with dependencies pointing one way (``agent → sync → storage → config``):

- ``config``  — the settings tree (pydantic-settings); imports nothing of ours.
- ``storage`` — SQLite schema, migrations and every SQL query; never imports aiohttp.
- ``sync``    — upstream client, outbox drain, bundle pull, scheduler, reference upstream.
- ``agent``   — the aiohttp app, routes and local decisioning.
"""

__version__ = "0.1.0"
