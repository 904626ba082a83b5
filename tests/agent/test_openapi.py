"""``GET /openapi.json``: a valid OpenAPI 3.1 document that names every route the app registers."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from edge_agent.agent.openapi import OPERATIONS
from edge_agent.agent.routes.table import ROUTES, SDK_ROUTES
from tests.conftest import MakeClient


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
