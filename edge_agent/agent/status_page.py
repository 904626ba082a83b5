"""The status page's HTML: one self-contained document from the ``/status`` figures and a few lists.

For a person at the kiosk: the verdict first, in words (working offline is calm, not a fault), a picture
of the last hour, then the app's requests, the queue, sync, storage, the bundle, the latest decisions and
engagement hits. Every time is shown with its zone (``decision.timezone``, else the machine's) and
sits in a ``<time datetime>`` in UTC; every value is escaped; nothing is loaded from elsewhere (the
route sends a CSP that forbids it). Elements that carry a ``/status`` figure have an ``id``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from edge_agent.agent import chart

REFRESH_S = 10

LEVEL_STYLE = {  # background, text
    "ok": ("#dafbe1", "#116329"),
    "offline": ("#ddf4ff", "#0a3069"),
    "attention": ("#fff8c5", "#7d4e00"),
    "fault": ("#ffebe9", "#a40e26"),
}

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:1.5em auto;color:#1f2328;max-width:62em;padding:0 1em}
h1{font-size:1.2em;margin:0;color:#57606a;font-weight:600} h2{font-size:1.1em;margin:1.6em 0 .4em}
.verdict{border-radius:.5em;padding:.8em 1.1em;margin:.6em 0}
.verdict strong{font-size:1.5em;display:block}
table{border-collapse:collapse} th,td{text-align:left;padding:.2em 1.2em .2em 0;vertical-align:top}
th{font-weight:600;color:#57606a;white-space:nowrap} .muted{color:#57606a;font-size:.9em}
.list td,.list th{border-bottom:1px solid #eaeef2;font-size:.92em}
"""


@dataclass(frozen=True, slots=True)
class PageData:
    """What the page shows besides ``/status`` itself."""

    status: dict[str, Any]
    decisions: list[dict[str, Any]]
    hits: list[dict[str, Any]]
    hour: chart.Hour
    zone: tzinfo | None  # None = the machine's local zone


def esc(value: object) -> str:
    return html.escape("—" if value is None or value == "" else str(value))


def age(seconds: float | None) -> str:
    """A duration in two units at most: ``45 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if seconds is None:
        return "—"
    whole = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    for i, (unit, size) in enumerate(units[:-1]):
        if whole >= size:
            small, small_size = units[i + 1]
            rest = (whole % size) // small_size
            return f"{whole // size} {unit}" + (f" {rest} {small}" if rest else "")
    return f"{whole} s"


class Times:
    """Times as the page writes them: local wall time with its zone, relative to the page's ``now``."""

    def __init__(self, now: float, zone: tzinfo | None) -> None:
        self.now, self.zone = now, zone

    def wall(self, ts: float) -> str:
        moment = (
            datetime.fromtimestamp(ts, self.zone) if self.zone else datetime.fromtimestamp(ts).astimezone()
        )
        text = moment.isoformat(sep=" ", timespec="seconds")
        return text[:-6] + " UTC" if text.endswith("+00:00") else text

    def when(self, ts: float | None, relative: bool = True) -> str:
        """``<time>`` for ``ts``; ``—`` for never."""
        if not ts:
            return "—"
        utc = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        text = self.wall(ts)
        if relative:
            delta = ts - self.now
            text += f" ({age(-delta)} ago)" if delta <= 0 else f" (in {age(delta)})"
        return f"<time datetime='{utc}'>{esc(text)}</time>"


def _rows(rows: Iterable[tuple[str, str, str | None]]) -> str:
    """``(label, html, id)`` rows of a two-column table; the html is already escaped."""
    cells = "".join(
        f"<tr><th>{esc(label)}</th><td{'' if ident is None else f' id={ident!r}'}>{value}</td></tr>"
        for label, value, ident in rows
    )
    return f"<table>{cells}</table>"


def _list(head: list[str], body: list[list[str]], empty: str, ident: str) -> str:
    if not body:
        return f"<p class='muted' id='{ident}-empty'>{esc(empty)}</p>"
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f"<table class='list'><thead><tr>{th}</tr></thead><tbody id='{ident}'>{rows}</tbody></table>"


def _verdict(st: dict[str, Any], t: Times) -> str:
    v = st["verdict"]
    background, colour = LEVEL_STYLE.get(v["level"], LEVEL_STYLE["attention"])
    since = f"<br><span class='muted'>Since {t.when(v['since'])}</span>" if v.get("since") else ""
    return (
        f"<div class='verdict' id='verdict' data-level='{esc(v['level'])}' "
        f"style='background:{background};color:{colour}'>"
        f"<strong id='verdict-title'>{esc(v['title'])}</strong>{esc(v['detail'])}{since}</div>"
    )


def _app_rows(st: dict[str, Any], t: Times) -> list[tuple[str, str, str | None]]:
    activity = st["activity"]
    last = activity["lastRequest"]
    last_html = "none since the agent started"
    if last is not None:
        last_html = f"{esc(last['route'])} → {esc(last['status'])}, {t.when(last['at'])}"
    return [
        ("Last request", last_html, "last-request"),
        ("Requests per minute (last 5 min)", esc(activity["requestsPerMinute"]), "requests-per-minute"),
        ("Requests in the last hour", esc(activity["requestsLastHour"]), "requests-last-hour"),
    ]


def _queue_rows(st: dict[str, Any], t: Times) -> list[tuple[str, str, str | None]]:
    queue = st["queue"]
    oldest = queue["oldestAgeSeconds"]
    rows: list[tuple[str, str, str | None]] = [
        ("Waiting to sync", esc(queue["pending"]), "queue-pending"),
        (
            "Oldest waiting",
            ("—" if queue["pending"] is None else "nothing waiting")  # unreadable storage: unknown
            if oldest is None
            else f"<span data-seconds='{oldest:.3f}'>{esc(age(oldest))}</span>",
            "queue-oldest",
        ),
        ("Dead letters", esc(queue["deadLetter"]), "dead-letters"),
    ]
    dead = queue.get("lastDeadLetter")
    if dead is not None:
        error = esc(dead["error"] or dead["status"])
        text = f"{esc(dead['path'])}: {error} (received {t.when(dead['receivedAt'])})"
        rows.append(("Last dead letter", text, "dead-letter-error"))
    return rows


def _pull_text(sync: dict[str, Any], t: Times) -> str:
    pull = sync.get("lastPull") or {}
    if not sync.get("upstream"):
        return "no upstream"
    if not pull:
        return "not yet"
    version = f" {esc(pull['version'])}" if pull.get("version") else ""
    return f"{esc(pull['outcome'])}{version}, {t.when(pull.get('at'))}"


def _retry_text(sync: dict[str, Any], t: Times) -> str:
    """After failures: the end of the drain's pause (backoff, ``Retry-After``), else the next push run."""
    if not sync.get("consecutiveFailures"):
        return "none pending"
    paused_until = sync.get("nextAttemptAt")
    if paused_until and paused_until > t.now:
        return t.when(paused_until)
    return "with the next push run"


def _sync_rows(st: dict[str, Any], t: Times) -> list[tuple[str, str, str | None]]:
    sync = st["sync"]
    rows: list[tuple[str, str, str | None]] = [
        ("Upstream", esc(sync.get("upstream") or "none configured — working offline"), "upstream"),
        ("Sync state", f"{esc(sync['state'])} since {t.when(sync.get('stateSince'))}", "sync-state"),
        ("Last success", t.when(sync.get("lastSuccessAt")), None),
        ("Last error", esc(sync.get("lastError")), "sync-error"),
        ("Last bundle pull", _pull_text(sync, t), "last-pull"),
    ]
    if sync.get("upstream"):
        rows.append(("Next pull", t.when(sync.get("nextPullAt")), "next-pull"))
        rows.append(("Next retry", _retry_text(sync, t), "next-retry"))
    if sync.get("pausedSecs"):
        rows.append(("Paused sections", esc(", ".join(sorted(sync["pausedSecs"]))), None))
    return rows


def _storage_rows(st: dict[str, Any], t: Times) -> list[tuple[str, str, str | None]]:
    storage = st["storage"]
    state = esc(storage.get("state"))
    if storage.get("reason"):
        state += f": {esc(storage['reason'])}"
    mib = (storage.get("sizeBytes", 0) + storage.get("walBytes", 0)) / 2**20
    return [
        ("State", f"{state} since {t.when(storage.get('since'))}", "storage-state"),
        ("Database", f"{esc(storage['path'])} ({mib:.1f} MiB)", None),
    ]


def _bundle_rows(st: dict[str, Any], t: Times) -> list[tuple[str, str, str | None]]:
    bundle = st["bundle"] or {}
    counts = " / ".join(esc(bundle.get(k)) for k in ("campaigns", "segments", "strategies"))
    return [
        ("Bundle", f"{esc(bundle.get('version'))} ({esc(bundle.get('source'))})", "bundle"),
        ("Loaded", t.when(bundle.get("loadedAt")), None),
        ("Campaigns / segments / strategies", counts, None),
    ]


def _decisions(data: PageData, t: Times) -> str:
    body = [
        [
            t.when(d["at"]),
            esc(d["route"]),
            esc(d["campaign_id"]),
            esc(d["variation_id"] or "chosen by /choose") + (" (control)" if d["control"] else ""),
            "yes" if d["impressed_at"] else "no",
        ]
        for d in data.decisions
    ]
    count = data.status["decisions"]["lastHour"]
    head = f"<p><span id='decisions-last-hour'>{esc(count)}</span> in the last hour.</p>"
    table = _list(
        ["When", "Route", "Campaign", "Variation", "Seen"], body, "No decisions yet.", "decision-rows"
    )
    return head + table


def _hits(data: PageData, t: Times) -> str:
    body = [
        [
            t.when(h["received_at"]),
            esc(h["type"]),
            esc(h["campaign_id"]),
            esc(h["content_id"]),
            "yes" if h["known_decision"] else "no (unknown decision)",
        ]
        for h in data.hits
    ]
    head = ["When", "Type", "Campaign", "Content", "Matched a decision"]
    return _list(head, body, "No engagement hits yet.", "hit-rows")


def render(data: PageData) -> str:
    st = data.status
    t = Times(st["time"], data.zone)
    sections = [
        ("The last hour", chart.render(data.hour)),
        ("The app", _rows(_app_rows(st, t))),
        ("Queue", _rows(_queue_rows(st, t))),
        ("Sync", _rows(_sync_rows(st, t))),
        ("Storage", _rows(_storage_rows(st, t))),
        ("Rules and content", _rows(_bundle_rows(st, t))),
        ("Latest decisions, every route", _decisions(data, t)),
        ("Latest engagement hits", _hits(data, t)),
    ]
    body = "".join(f"<h2>{esc(title)}</h2>{content}" for title, content in sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>edge-agent: {esc(st['verdict']['title'])}</title>"
        f"<meta http-equiv='refresh' content='{REFRESH_S}'><style>{STYLE}</style></head><body>"
        f"<h1>edge-agent {esc(st['version'])}</h1>{_verdict(st, t)}"
        f"<p class='muted' id='refresh'>Refreshes every {REFRESH_S} s · last refreshed "
        f"{t.when(st['time'], relative=False)} · up {esc(age(st['uptimeSeconds']))}</p>"
        f"{body}"
        "<p class='muted'><a href='/status'>status JSON</a> · <a href='/metrics'>metrics</a></p>"
        "</body></html>"
    )
