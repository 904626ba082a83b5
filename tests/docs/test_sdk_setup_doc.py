"""docs/sdk-setup.md's platform snippets are what the platforms read: the Android network security config
permits cleartext to loopback, the iOS Info.plist fragment is a valid plist with the ATS exceptions, and
every proxyUrl shown is the agent's default address."""

from __future__ import annotations

import plistlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from edge_agent.config.settings import DEFAULT_PORT

DOC = (Path(__file__).resolve().parents[2] / "docs" / "sdk-setup.md").read_text()
LOOPBACK = {"127.0.0.1", "localhost"}


def xml_blocks() -> list[str]:
    return re.findall(r"^```xml\n(.*?)^```", DOC, re.M | re.S)


def test_android_permits_cleartext_to_loopback_only() -> None:
    (config,) = [b for b in xml_blocks() if "<network-security-config>" in b]
    root = ET.fromstring(config.encode())
    (domain_config,) = root.findall("domain-config")
    assert domain_config.get("cleartextTrafficPermitted") == "true"
    assert {d.text for d in domain_config.findall("domain")} == LOOPBACK
    assert root.find("base-config") is None  # nothing beyond loopback is opened
    assert 'android:networkSecurityConfig="@xml/network_security_config"' in DOC


def test_ios_allows_insecure_loads_to_loopback() -> None:
    (fragment,) = [b for b in xml_blocks() if "NSAppTransportSecurity" in b]
    plist = plistlib.loads(f'<plist version="1.0"><dict>{fragment}</dict></plist>'.encode())
    domains = plist["NSAppTransportSecurity"]["NSExceptionDomains"]
    assert set(domains) == LOOPBACK
    assert all(entry == {"NSExceptionAllowsInsecureHTTPLoads": True} for entry in domains.values())
    assert "NSAllowsLocalNetworking" in DOC


def test_every_proxy_url_is_the_default_address() -> None:
    urls = re.findall(r"proxyUrl: ?['\"]([^'\"]+)['\"]|, \"(http[^\"]+)\"\)", DOC)
    found = [a or b for a, b in urls]
    assert len(found) == 3, found  # Flutter, Android, iOS
    assert set(found) == {f"http://127.0.0.1:{DEFAULT_PORT}"}
