"""A bundle with ``sections`` answers campaigns only for those secs; other secs are still recorded."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.conftest import MakeClient
from tests.helpers import db_count, envelope


async def test_campaigns_only_for_the_bundles_sections(
    make_client: MakeClient, demo_bundle: dict[str, Any], tmp_path: Path
) -> None:
    bundle = copy.deepcopy(demo_bundle)
    bundle["version"] = "sec-scoped"
    bundle["sections"] = ["shop-a"]
    client = await make_client(bundle=bundle)
    purchase = [{"type": "purchase-v1", "value": 10, "cart": [{"productId": "sku-1001", "quantity": 1}]}]
    slider = [{"group": "home_slider"}]

    served = await (await client.post("/event", json={**envelope(data=purchase), "sec": "shop-a"})).json()
    assert [c["campaignId"] for c in served["campaigns"]] == ["cmp_thanks01"]
    other = await (await client.post("/event", json={**envelope(data=purchase), "sec": "shop-b"})).json()
    assert other["campaigns"] == [] and other["user"]["uid"]
    assert (
        len(
            (await (await client.post("/choose", json={**envelope(data=slider), "sec": "shop-a"})).json())[
                "data"
            ]
        )
        == 2
    )
    assert (await (await client.post("/choose", json={**envelope(data=slider), "sec": "shop-b"})).json())[
        "data"
    ] == []
    assert db_count(tmp_path / "agent.db", "outbox") == 2  # both secs' events are kept and queued
