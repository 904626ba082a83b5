"""``GET /openapi.json``: a valid OpenAPI 3.1 document that names every route the app registers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from edge_agent.agent.openapi import OPERATIONS, served_paths
from edge_agent.agent.routes.table import ROUTES, SDK_ROUTES, Route
from tests.conftest import MakeClient
from tests.helpers import envelope


async def served(client: TestClient) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc: dict[str, Any] = await resp.json()
    return doc


def registered(client: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves: its router, and the SDK table behind the catch-all."""
    out = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or "{" in path:
            continue
        out.add((route.method, path))
    for route in SDK_ROUTES:
        out |= {(route.method, route.path), (route.method, "/v2" + route.path)}
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


async def test_the_document_is_valid_openapi_3_1(client: TestClient) -> None:
    doc = await served(client)
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any structural error, including a dangling $ref


async def test_every_registered_route_is_documented_and_nothing_else(client: TestClient) -> None:
    doc = await served(client)
    routes = registered(client)
    assert ("GET", "/openapi.json") in routes and ("POST", "/v2/choose") in routes
    assert routes - documented(doc) == set(), "registered but missing from /openapi.json"
    assert documented(doc) - routes == set(), "documented but not registered"


def test_every_table_route_has_its_models_described() -> None:
    assert {(r.method, r.path) for r in ROUTES} == set(OPERATIONS)


async def test_errors_are_the_envelope_and_503_says_retry_after(client: TestClient) -> None:
    doc = await served(client)
    envelope = doc["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"ok", "status", "error", "errors"}
    visit = doc["paths"]["/visit"]["post"]
    for code in ("403", "413", "415", "421", "422", "503"):
        schema = visit["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, code
    assert "Retry-After" in visit["responses"]["503"]["headers"]
    body = visit["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/VisitIn")
    event = doc["components"]["schemas"]["EventRequest"]
    assert "data" in event["required"]  # generated from the request model, not written by hand


async def test_the_document_is_open_even_with_keys_and_an_admin_token(make_client: MakeClient) -> None:
    client = await make_client(auth={"api_keys": ["k1"]}, server={"admin_token": "admin-secret"})
    assert (await client.get("/status")).status == 403
    doc = await served(client)
    assert doc["paths"]["/status"]["get"]["tags"] == ["operator"]


# --- every error a route answers is in its description -------------------------------------------------

EVIL = "http://evil.example"
JSON = {"Content-Type": "application/json"}
BAD_QUERY = {"/admin/queue": "?limit=lots", "/engagement": "?type=", "/admin/sync/resume": ""}


def probes(route: Route, path: str) -> list[tuple[str, dict[str, str], bytes]]:
    """Requests that each draw one error out of ``route``: (path with query, headers, body)."""
    body = b"{}" if route.method == "POST" else b""
    out = [
        (path, {**JSON, "Host": "evil.example:8787"}, body),  # 421
        (path, {**JSON, "Origin": EVIL}, body),  # 403
        (path, {**JSON, "Sec-Fetch-Site": "cross-site"}, body),  # 403
    ]
    if route.method == "POST":
        out += [
            (path, {"Content-Type": "text/plain"}, body),  # 415
            (path, JSON, b"[" * 20 + b"]" * 20),  # 422 (not an object) where the body is read
            (path, JSON, b'{"pad": "' + b"x" * 4096 + b'"}'),  # 413 where the body is read
        ]
    if route.path in BAD_QUERY:
        out.append((path + BAD_QUERY[route.path], {}, b""))  # 422
    return out


async def answered(client: TestClient) -> dict[tuple[str, str], set[int]]:
    """Every error status each served (method, path) answered to its probes."""
    seen: dict[tuple[str, str], set[int]] = {}
    for route in ROUTES:
        for path in served_paths(route):
            for target, headers, body in probes(route, path):
                resp = await client.request(route.method, target, data=body or None, headers=headers)
                if resp.status >= 400:
                    seen.setdefault((route.method, path), set()).add(resp.status)
    return seen


def undocumented(doc: dict[str, Any], seen: dict[tuple[str, str], set[int]]) -> dict[str, set[int]]:
    out = {}
    for (method, path), statuses in seen.items():
        responses = doc["paths"][path][method.lower()]["responses"]
        missing = {s for s in statuses if str(s) not in responses}
        if missing:
            out[f"{method} {path}"] = missing
    return out


async def test_every_error_a_route_answers_is_documented(make_client: MakeClient) -> None:
    client = await make_client(server={"max_body_bytes": 1024})
    doc = await served(client)
    seen = await answered(client)
    assert undocumented(doc, seen) == {}
    every = set().union(*seen.values())
    assert {403, 413, 415, 421, 422} <= every, every  # the probes reached each kind
    assert seen[("POST", "/admin/bundle")] >= {403, 413, 415, 421, 422}
    assert seen[("POST", "/v2/visit")] >= {403, 413, 415, 421, 422}


async def test_every_503_a_route_answers_without_storage_is_documented(
    make_client: MakeClient, tmp_path: Path
) -> None:
    directory = tmp_path / "agent.db"
    directory.mkdir()  # SQLite cannot open it: the agent serves 503s and keeps trying
    client = await make_client(storage={"path": directory})
    doc = await served(client)
    seen: dict[tuple[str, str], set[int]] = {}
    for route in ROUTES:
        for path in served_paths(route):
            query = "?type=click&decisionId=d1" if route.path == "/engagement" else ""
            body = json.dumps(envelope(data=[{"type": "x"}])).encode() if route.method == "POST" else None
            resp = await client.request(route.method, path + query, data=body, headers=JSON)
            seen.setdefault((route.method, path), set()).add(resp.status)
            if resp.status == 503:
                assert int(resp.headers["Retry-After"]) > 0, path
    errors = {key: {s for s in statuses if s >= 400} for key, statuses in seen.items()}
    assert undocumented(doc, errors) == {}
    assert 503 in errors[("POST", "/visit")] and 503 in errors[("GET", "/readyz")]
    # And the other way round: the operator's views answer, so their description promises no 503.
    for path in ("/status", "/metrics"):
        assert 503 not in errors[("GET", path)] and "503" not in doc["paths"][path]["get"]["responses"]
