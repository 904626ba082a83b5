"""The peer: ``@unleash/proxy`` (a local-evaluation feature-flag proxy teams run beside their apps),
installed from npm into ``bench/.cache`` and bootstrapped offline from ``bench/unleash-toggles.json``.

The proxy still polls an Unleash server; ``StubUpstream`` answers its client API (features, register,
metrics) on loopback with the same toggles, so nothing leaves the machine. Peer load: ``GET /proxy``
with the proxy's client key and a user and session id, as the Unleash front-end SDKs call it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from aiohttp import web
from wrk import Call, Load

VERSION = "1.4.9"
HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "unleash"
TOGGLES = HERE / "unleash-toggles.json"
CLIENT_KEY = "bench-proxy-key"
SERVER_TOKEN = "bench-server-token"


def installed_version() -> str | None:
    package = CACHE / "node_modules" / "@unleash" / "proxy" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else None


async def install() -> str | None:
    """Install the pinned proxy once; the reason it is unavailable, or None when it is ready."""
    if installed_version() == VERSION:
        return None
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node/npm not installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "package.json").write_text('{"private": true}\n')
    proc = await asyncio.create_subprocess_exec(
        "npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", f"@unleash/proxy@{VERSION}",
        cwd=CACHE, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        return f"npm install failed: {err.decode()[-300:]}"
    return None


class StubUpstream:
    """An Unleash server's client API, as much as the proxy calls: the toggles, and 202 for the rest."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None

    async def start(self, port: int) -> str:
        toggles = TOGGLES.read_bytes()

        async def features(request: web.Request) -> web.Response:
            return web.Response(body=toggles, content_type="application/json")

        async def accepted(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=202)

        app = web.Application()
        app.router.add_get("/api/client/features", features)
        app.router.add_post("/api/client/register", accepted)
        app.router.add_post("/api/client/metrics", accepted)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/api"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def command() -> list[str]:
    start = "require('@unleash/proxy').start({expBootstrap: {filePath: process.env.BENCH_TOGGLES}})"
    return ["node", "-e", start]


def environment(port: int, upstream_url: str) -> dict[str, str]:
    return {
        "PORT": str(port),
        "UNLEASH_URL": upstream_url,
        "UNLEASH_API_TOKEN": SERVER_TOKEN,
        "UNLEASH_PROXY_CLIENT_KEYS": CLIENT_KEY,
        "UNLEASH_APP_NAME": "shop",
        "LOG_LEVEL": "warn",
        "BENCH_TOGGLES": str(TOGGLES),
        "NODE_ENV": "production",
    }


def load(users: int = 1000) -> Load:
    calls = [Call("GET", f"/proxy?appName=shop&userId=u{n}&sessionId=s{n}") for n in range(users)]
    return Load(calls, {"Authorization": CLIENT_KEY})
