"""``GET /`` — a small page for a person standing at the kiosk: is it healthy, is it syncing, what did it
show lately. Refreshes itself; plain HTML, no scripts, every value escaped."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from aiohttp import web

from edge_agent.agent.keys import db_key
from edge_agent.agent.routes.status import collect_status
from edge_agent.storage import decisions

STATE_COLOURS = {"online": "#1a7f37", "offline": "#9a6700", "degraded": "#cf222e", "paused": "#cf222e"}

STYLE = """
body{font:16px/1.4 system-ui,sans-serif;margin:2em;color:#1f2328;max-width:60em}
h1{font-size:1.6em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.6em 0 .4em}
.badge{display:inline-block;padding:.15em .7em;border-radius:1em;color:#fff;font-weight:600;font-size:.7em}
table{border-collapse:collapse} th,td{text-align:left;padding:.25em 1.2em .25em 0;vertical-align:top}
th{font-weight:600;color:#57606a} .muted{color:#57606a}
"""


def _esc(value: object) -> str:
    return html.escape("—" if value is None or value == "" else str(value))


def _when(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if whole >= size:
            return f"{whole // size} {unit}"
    return f"{whole} s"


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _sync_rows(sync: dict[str, Any]) -> list[tuple[str, str]]:
    pull = sync.get("lastPull") or {}
    last_pull = f"{pull['outcome']} {pull.get('version') or ''}".strip() if pull else "never"
    rows = [
        ("Upstream", sync.get("upstream") or "none configured — running offline"),
        ("State since", _when(sync.get("stateSince")) if sync.get("configured") else "—"),
        ("Last success", _when(sync.get("lastSuccessAt"))),
        ("Last error", sync.get("lastError") or "—"),
        ("Last bundle pull", last_pull if sync.get("upstream") else "no upstream"),
    ]
    if sync.get("pausedSecs"):
        rows.append(("Paused sections", ", ".join(sorted(sync["pausedSecs"]))))
    return rows


def _decisions_table(recent: list[dict[str, Any]]) -> str:
    if not recent:
        return "<p class='muted'>No decisions yet.</p>"
    head = "<tr><th>When</th><th>Campaign</th><th>Variation</th><th>Seen</th></tr>"
    body = "".join(
        f"<tr><td>{_esc(_when(d['at']))}</td><td>{_esc(d['campaign_id'])}</td>"
        f"<td>{_esc(d['variation_id'])}{' (control)' if d['control'] else ''}</td>"
        f"<td>{'yes' if d['impressed_at'] else 'no'}</td></tr>"
        for d in recent
    )
    return f"<table>{head}{body}</table>"


async def index(request: web.Request) -> web.Response:
    st = await collect_status(request.app)
    recent = await request.app[db_key].read(lambda conn: decisions.recent(conn, 10))
    sync, queue, bundle = st["sync"], st["queue"], st["bundle"] or {}
    state = sync.get("state", "offline")
    colour = STATE_COLOURS.get(state, "#57606a")
    counts = " / ".join(str(bundle.get(k)) for k in ("campaigns", "segments", "strategies"))
    queue_rows = [
        ("Waiting to sync", str(queue["pending"])),
        ("Oldest waiting", _age(queue["oldestAgeSeconds"])),
        ("Dead letter", str(queue["deadLetter"])),
    ]
    bundle_rows = [
        ("Bundle", f"{bundle.get('version')} ({bundle.get('source')})"),
        ("Loaded", _when(bundle.get("loadedAt"))),
        ("Campaigns / segments / strategies", counts),
    ]
    sections = [
        ("Queue", _table(queue_rows)),
        ("Sync", _table(_sync_rows(sync))),
        ("Rules and content", _table(bundle_rows)),
        ("Recent decisions", _decisions_table(recent)),
    ]
    body = "".join(f"<h2>{_esc(title)}</h2>{content}" for title, content in sections)
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>edge-agent</title>"
        f"<meta http-equiv='refresh' content='10'><style>{STYLE}</style></head><body>"
        f"<h1>edge-agent <span class='badge' style='background:{colour}'>{_esc(state)}</span></h1>"
        f"<p class='muted'>version {_esc(st['version'])} · up {_age(st['uptimeSeconds'])} · "
        f"database {_esc(st['storage']['path'])}</p>{body}"
        "<p class='muted'><a href='/status'>status JSON</a> · <a href='/metrics'>metrics</a></p>"
        "</body></html>"
    )
    return web.Response(text=page, content_type="text/html")
