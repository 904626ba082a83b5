"""Typed application and request state (``web.AppKey`` / ``web.RequestKey``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    pass

settings_key = web.AppKey["Settings"]("settings")
clock_key = web.AppKey["Clock"]("clock")
db_key = web.AppKey["Database"]("db")
bundle_key = web.AppKey["BundleHolder"]("bundle")
metrics_key = web.AppKey["Metrics"]("metrics")
services_key = web.AppKey["Services"]("services")
started_at_key = web.AppKey[float]("started_at")
sync_state_key = web.AppKey["SyncState"]("sync_state")
sync_jobs_key = web.AppKey["SyncJobs"]("sync_jobs")
request_id_key = web.RequestKey[str]("request_id")
route_key = web.RequestKey[str]("route")  # the normalized route, for metrics
