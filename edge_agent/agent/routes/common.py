"""Small pieces every SDK handler uses."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.bundles import LoadedBundle
from edge_agent.agent.keys import bundle_key, services_key
from edge_agent.agent.services import Services
from edge_agent.errors import StorageUnavailable


def services(request: web.Request) -> Services:
    return request.app[services_key]


def active_bundle(request: web.Request) -> LoadedBundle:
    loaded = request.app[bundle_key].current
    if loaded is None:  # only between start-up steps; readyz reports it
        raise StorageUnavailable("no bundle loaded yet")
    return loaded
