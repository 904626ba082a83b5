"""Typed application and request state (``web.AppKey`` / ``web.RequestKey``)."""

from __future__ import annotations

from aiohttp import web

from edge_agent.agent.activity import Activity
from edge_agent.agent.bundles import BundleHolder
from edge_agent.agent.metrics import Metrics
from edge_agent.agent.services import Services
from edge_agent.clock import Clock
from edge_agent.config.settings import Settings
from edge_agent.storage.database import Database
from edge_agent.sync.jobs import SyncJobs
from edge_agent.sync.state import SyncState

settings_key = web.AppKey("settings", Settings)
clock_key = web.AppKey("clock", Clock)
db_key = web.AppKey("db", Database)
bundle_key = web.AppKey("bundle", BundleHolder)
metrics_key = web.AppKey("metrics", Metrics)
activity_key = web.AppKey("activity", Activity)
services_key = web.AppKey("services", Services)
started_at_key = web.AppKey("started_at", float)
sync_state_key = web.AppKey("sync_state", SyncState)
sync_jobs_key = web.AppKey("sync_jobs", SyncJobs)
request_id_key = web.RequestKey("request_id", str)
