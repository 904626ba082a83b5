"""The yardstick: a bare aiohttp server answering ``GET /`` with a 700-byte JSON body (stdlib json).

    python bench/hello.py --port 8080

No middleware, no access log, no storage: what aiohttp itself costs per request on this machine, so the
agent's figures can be read as ratios that hold across machines and loads.
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

CONTENT = {
    "contentId": "cnt_homebanner02:5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f",
    "deliveryMethod": "inline",
    "contentType": "banner",
    "variables": {
        "elements": [
            {"type": "image", "src": "https://cdn.example.invalid/banners/autumn-2026-sale.png"},
            {"type": "text", "text": "Autumn sale: 40 % off trail shoes, sneakers and rain jackets"},
        ]
    },
}
CAMPAIGN = {
    "campaignId": "cmp_homebanner02",
    "experienceId": "exp_homebanner02",
    "variationId": "var_homebanner02a",
    "decisionId": "gf:6819e7c0d7303f0f6b0ef263:6a09e770c6e093f77eeb982b:1796242861",
    "contents": [CONTENT],
}
ANSWER = {
    "user": {"uid": "6a09e770c6e093f77eeb982b", "ses": "b5c0e8a6-0d0b-4a47-9e0c-6f2f5d0d3c11"},
    "data": [{"selector": "home_banner", "payload": [CAMPAIGN]}],
}


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps(ANSWER), content_type="application/json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/readyz", hello)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
