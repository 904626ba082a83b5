"""schemathesis against the served ``/openapi.json`` of the real daemon on loopback, every operation:
valid (positive) and invalid (negative) requests generated from the document. No answer is a 5xx, and
every 4xx is the JSON error envelope.

``EDGE_AGENT_SCHEMATHESIS_EXAMPLES`` sets the examples per operation and mode (CI default 6, under a
minute on two shared cores; the figures in docs/reliability.md come from a larger run).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.agent.daemon import free_port, start_agent, stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EXAMPLES = int(os.environ.get("EDGE_AGENT_SCHEMATHESIS_EXAMPLES", "6"))
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "agent.db"
    port = free_port()
    proc = start_agent(db, port)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert proc.poll() is None, "agent exited before it was ready"
            try:
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        stop(proc)
    errors = [line for line in db.with_suffix(".log").read_text().splitlines() if " ERROR " in line]
    assert not errors, f"the agent logged errors: {errors[:3]}"


def check_answer(response: schemathesis.Response, label: str) -> None:
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    if response.status_code < 400:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), label
    body: Any = response.json()
    assert isinstance(body, dict), label
    assert body.get("ok") is False and body.get("status") == response.status_code, f"{label}: {body}"
    assert isinstance(body.get("error"), str) and body["error"], f"{label}: {body}"
    errors = body.get("errors")
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors), f"{label}: {body}"


def exercise(
    operation: Any, mode: GenerationMode, base_url: str, session: requests.Session, statuses: Counter[int]
) -> None:
    """Up to EXAMPLES generated requests to one operation in one mode, each answer checked."""
    label = f"{operation.label} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=10)
        statuses[response.status_code] += 1
        check_answer(response, f"{label}: {case.as_curl_command()}")

    started = time.monotonic()
    try:
        run()
    except Unsatisfiable:
        # Every invalid variant of a tiny schema may be one the transport cannot send.
        assert mode is GenerationMode.NEGATIVE, label
    if os.environ.get("EDGE_AGENT_SCHEMATHESIS_TIMES"):
        print(f"{label}: {time.monotonic() - started:.1f} s")


def test_every_operation_answers_without_5xx_and_4xx_in_the_envelope(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: Counter[int] = Counter()
    session = requests.Session()
    for operation in operations:
        # Nothing to make invalid without parameters or a body: those get the positive mode only.
        negatable = {"parameters", "requestBody"} & set(operation.definition.raw)
        for mode in MODES if negatable else MODES[:1]:
            exercise(operation, mode, base_url, session, statuses)
    total = sum(statuses.values())
    counts = dict(sorted(statuses.items()))
    print(f"\nschemathesis: {len(operations)} operations, {total} requests, statuses {counts}")
    documented = {f"{m.upper()} {p}" for p, item in schema.raw_schema["paths"].items() for m in item}
    # schemathesis leaves out the document's own route; tests/agent/test_openapi.py covers it.
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    assert total >= len(operations)
    assert any(400 <= s < 500 for s in statuses) and 200 in statuses
