"""The rules behind the status page: readable upstream errors, the verdict, the activity ring."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from edge_agent.agent.activity import MINUTES, Activity, sync_class
from edge_agent.agent.error_text import MAX_CHARS, readable
from edge_agent.agent.verdict import verdict
from edge_agent.clock import ManualClock


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            '422: {"ok":false,"status":422,"errors":["sec: unknown section"]}',
            "422 Unprocessable Entity: sec: unknown section",
        ),
        ('500: {"error": {"message": "db down"}}', "500 Internal Server Error: db down"),
        ('400: {"detail": "bad uid", "title": "x"}', "400 Bad Request: bad uid"),
        ('409: {"ok": false, "id": 7}', "409 Conflict"),
        (
            "502: <html><head><title>502</title></head><body><h1>Bad\n  gateway</h1></body></html>",
            "502 Bad Gateway: 502 Bad gateway",
        ),
        ('503: {"message": "cut sho', '503 Service Unavailable: {"message": "cut sho'),
        ("599: ", "599 error"),
        ("422 (batch item)", "422 (batch item)"),
        (
            "upstream unreachable: cannot connect to 127.0.0.1:9: refused",
            "upstream unreachable: cannot connect to 127.0.0.1:9: refused",
        ),
        (None, None),
    ],
)
def test_an_upstream_error_reads_as_a_status_and_a_message(raw: str | None, shown: str | None) -> None:
    assert readable(raw) == shown


def test_a_long_error_is_cut() -> None:
    shown = readable("500: " + "word " * 1000)
    assert shown is not None and len(shown) == MAX_CHARS and shown.endswith("…")


STATUS: dict[str, Any] = {
    "storage": {"state": "ok", "reason": None, "since": 10.0},
    "bundle": {"version": "v1"},
    "queue": {"pending": 3, "deadLetter": 0},
    "sync": {"configured": True, "state": "online", "stateSince": 20.0, "lastError": None},
}


def status_with(**changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(STATUS)
    for section, values in changes.items():
        out[section] = None if values is None else {**out[section], **values}
    return out


@pytest.mark.parametrize(
    ("changes", "level", "title", "since"),
    [
        ({}, "ok", "Working and in sync", 20.0),
        ({"sync": {"configured": False, "state": "offline"}}, "offline", "Working offline", 20.0),
        ({"sync": {"state": "offline"}}, "offline", "Working offline", 20.0),
        (
            {"sync": {"state": "paused", "lastError": "sec s: 401"}},
            "attention",
            "The upstream refuses to sync",
            20.0,
        ),
        (
            {"queue": {"deadLetter": 2}, "sync": {"state": "offline"}},
            "fault",
            "2 messages could not be delivered",
            None,
        ),
        ({"bundle": None}, "fault", "Not ready: no bundle loaded", None),
        (
            {
                "storage": {"state": "degraded", "reason": "disk full", "since": 30.0},
                "queue": {"deadLetter": 1},
            },
            "fault",
            "Not saving: storage is failing",
            30.0,
        ),
        (
            {"storage": {"state": "unavailable", "reason": "unable to open database file"}},
            "fault",
            "Not saving: storage is not open",
            10.0,
        ),
    ],
)
def test_the_verdict_names_the_worst_thing_first(
    changes: dict[str, Any], level: str, title: str, since: float | None
) -> None:
    v = verdict(status_with(**changes))
    assert (v["level"], v["title"], v["since"]) == (level, title, since)


def test_offline_says_what_waits() -> None:
    v = verdict(status_with(sync={"state": "offline"}))
    assert v["detail"] == "The upstream cannot be reached; 3 messages wait and will be sent when it is back."


def test_the_ring_keeps_one_hour_in_fixed_memory_and_counts_sync_runs_since_the_last_look() -> None:
    clock = ManualClock(start=6000.0)  # minute 100
    activity = Activity(clock)
    activity.observe(clock.now(), 5, {"attempt:push:ok": 10, "delivered": 99})  # the baseline: not counted
    activity.record("/visit", 200)
    clock.advance(60)
    activity.record("/visit", 200)
    activity.record("/event", 422)
    activity.observe(
        clock.now(), 7, {"attempt:push:ok": 12, "attempt:pull:error": 1, "attempt:push:skipped": 3}
    )
    now = clock.now()
    assert activity.per_minute(now, 3) == [0, 1, 2]
    assert activity.queue_depth.series(now, 3) == [None, 5, 7]
    assert [activity.sync[c].series(now, 2) for c in ("ok", "failed", "skipped")] == [
        [None, 2],
        [None, 1],
        [None, 3],
    ]
    assert activity.summary(now) == {
        "lastRequest": {"route": "/event", "status": 422, "at": now},
        "requestsPerMinute": 0.6,
        "requestsLastHour": 3,
    }
    clock.advance(MINUTES * 60)  # an hour on: every slot is stale, none is reused by mistake
    assert activity.per_minute(clock.now()) == [0] * MINUTES
    assert activity.queue_depth.series(clock.now()) == [None] * MINUTES


def test_sync_outcomes_fall_in_three_classes() -> None:
    assert [sync_class(o) for o in ("ok", "full", "delta", "not_modified", "up")] == ["ok"] * 5
    assert [sync_class(o) for o in ("error", "down", "rejected")] == ["failed"] * 3
    assert sync_class("skipped") == "skipped"
