"""Facts derived from a request for conditions and UserInfo: device info and traffic source (bundle.md §2).

``device_info`` wraps the **ua-parser** library (uap-core rules); the library names the OS, browser and device
but has no notion of form factor, so the only rules written here map its answer onto
``mobile``/``tablet``/``desktop``/``other``. ``traffic_source`` is the attribution table of bundle.md §2.

The parser is ua-parser's pure-Python resolver over the same uap-core rules, not its Rust one: the Rust
matchers take ~25 MiB of memory once built, the compiled Python patterns ~2 MiB. A miss costs a few
milliseconds instead of microseconds, and misses are rare: an agent runs beside one app on one device, so it
sees a handful of user agents in its life, and each parsed answer is cached by the UA string.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edge_agent.storage.condition_paths import DeviceFacts

if TYPE_CHECKING:
    from ua_parser import Device, Parser

# Real user agents are well under this; longer strings are cut so one odd client cannot make regex matching
# (or the cache) expensive.
MAX_UA_LENGTH = 1024

# ua-parser OS families, mapped to a form factor when the device itself is not recognisably a tablet.
_MOBILE_OS = frozenset({"Android", "iOS", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"})
_DESKTOP_OS = frozenset(
    {
        "Windows",
        "Mac OS X",
        "Linux",
        "Ubuntu",
        "Fedora",
        "Debian",
        "Chrome OS",
        "FreeBSD",
        "OpenBSD",
        "NetBSD",
    }
)
# ua-parser's placeholder brands ("Generic", "Generic_Android", "Generic_Android_Tablet"; "Spider" for
# bots) say nothing about the maker.
_PLACEHOLDER_BRANDS = ("Generic", "Spider")

# The SDKs' own user agents (sdk-wire-contract §2.4):
#   Android "<appLabel>/<versionName> (Android <release>; <MODEL>; <DEVICE>; <abi0>)"
#   iOS     "<CFBundleName>/<ShortVersion> (iOS <systemVersion>; <model>; arm64)"
# ua-parser gets their OS right but reads them as a browser ("Android", "Mobile Safari UI/WKWebView") and
# does not look at the Android model. Only for this pattern: no browser (a native app is not one), and the
# Android model is re-parsed in the platform's standard "(Linux; Android N; MODEL)" form so the library
# can name its maker.
_APP_UA = re.compile(
    r"[^/()]+/[^\s()]+ \((?P<os>Android|iOS) (?P<os_version>[^;)]*);\s*(?P<model>[^;)]+?)\s*[;)]"
)


def device_info(ua: str | None) -> DeviceFacts:
    """``{"brand", "type", "browser", "os"}`` for a user agent; each call returns a fresh dict.

    ``type`` is always one of ``mobile``/``tablet``/``desktop``/``other`` (bots, TVs, consoles, unknown
    strings and a missing UA are ``other``); ``brand``, ``browser`` and ``os`` are ua-parser family names
    (``"Apple"``, ``"Chrome Mobile"``, ``"Mac OS X"``) or None when unknown. Limits: an Android app UA says
    nothing about form factor, so an Android tablet in the app reads ``mobile`` unless ua-parser knows the
    model as a tablet; an iPad in desktop mode sends a Mac UA and reads ``desktop``.
    """
    if not isinstance(ua, str) or not ua.strip():
        return {"brand": None, "type": "other", "browser": None, "os": None}
    brand, kind, browser, os = _device_info(ua[:MAX_UA_LENGTH])
    return {"brand": brand, "type": kind, "browser": browser, "os": os}


_parser_lock = threading.Lock()
_parser_instance: Parser | None = None


def _parser() -> Parser:
    """The parser, built on first use (imported and compiled only then; the app warms it up at start)."""
    global _parser_instance
    with _parser_lock:  # the warm-up thread and a request must not both build it
        if _parser_instance is None:
            from ua_parser import BasicResolver, Parser, load_builtins

            _parser_instance = Parser(BasicResolver(load_builtins()))
        return _parser_instance


@lru_cache(maxsize=256)
def _device_info(ua: str) -> tuple[str | None, str, str | None, str | None]:
    # Cached as a tuple: an immutable value cannot be corrupted by a caller editing its dict. Small: one
    # device sends one or a few user agents, and a flood of distinct ones must not grow the process.
    parser = _parser()
    result = parser.parse(ua)
    os = result.os.family if result.os else None
    browser = result.user_agent.family if result.user_agent else None
    device = result.device
    app = _APP_UA.match(ua)
    if app:
        browser = None
        os = os or app["os"]
        if app["os"] == "Android":
            device = (
                parser.parse_device(f"Mozilla/5.0 (Linux; Android {app['os_version']}; {app['model']})")
                or device
            )
    brand = device.brand if device and device.brand else None
    if brand is not None and brand.startswith(_PLACEHOLDER_BRANDS):
        brand = None
    return brand, _device_type(os, device), browser, os


def _device_type(os: str | None, device: Device | None) -> str:
    if device is not None:
        if device.family == "Spider":
            return "other"
        text = f"{device.family} {device.brand or ''} {device.model or ''}".lower()
        if "ipad" in text or "tablet" in text or "kindle" in text:
            return "tablet"
    if os in _MOBILE_OS:
        return "mobile"
    if os in _DESKTOP_OS:
        return "desktop"
    return "other"


# --- traffic source ----------------------------------------------------------------------------------------

_MEDIUMS = {
    **dict.fromkeys(("cpc", "ppc", "paid", "paidsearch"), "Paid Search"),
    **dict.fromkeys(("display", "banner", "cpm"), "Display"),
    **dict.fromkeys(("email", "newsletter"), "Email"),
    "social": "Social",
}
# Kept deliberately short: the networks and engines that send real traffic. A host matches a domain when it
# is the domain or a subdomain of it (m.facebook.com, l.instagram.com).
_SOCIAL_DOMAINS = (
    "facebook.com", "fb.com", "instagram.com", "twitter.com", "x.com", "t.co", "linkedin.com", "lnkd.in",
    "pinterest.com", "tiktok.com", "youtube.com", "reddit.com", "vk.com",
)  # fmt: skip
_SEARCH_DOMAINS = (
    "bing.com",
    "duckduckgo.com",
    "search.yahoo.com",
    "baidu.com",
    "ecosia.org",
    "search.brave.com",
)
# Engines with a country domain per market: google.com, google.co.uk, google.com.br, yandex.ru, ...
_SEARCH_NAMES = frozenset({"google", "yandex"})
# android-app://<package>/... referrers name the referring app by its package.
_SOCIAL_APPS = frozenset(
    {
        "com.facebook.katana", "com.facebook.orca", "com.instagram.android", "com.twitter.android",
        "com.zhiliaoapp.musically", "com.linkedin.android", "com.pinterest", "com.reddit.frontpage",
        "com.google.android.youtube",
    }
)  # fmt: skip
_SEARCH_APPS = frozenset({"com.google.android.googlequicksearchbox"})


def traffic_source(utm: dict[str, Any] | None, referrer: str | None) -> str:
    """Classify a session's first call: ``Paid Search``, ``Display``, ``Email``, ``Social``,
    ``Organic Search``, ``Referral`` or ``Direct``.

    ``utm_medium`` (case-insensitive) decides first; then the referrer: a social host or app, a search engine,
    any other host (``Referral``). An ``app://`` referrer is the app's own navigation (the SDKs use ``app://``
    locations), not a referral; a referrer without a host is ignored; ``http(s)://``, ``android-app://<package>``
    and bare ``host/path`` referrers are understood. Nothing usable → ``Direct``.
    """
    medium = utm.get("utm_medium") if isinstance(utm, dict) else None
    if isinstance(medium, str) and (source := _MEDIUMS.get(medium.strip().lower())):
        return source
    host = _referrer_host(referrer)
    if host is None:
        return "Direct"
    if host in _SOCIAL_APPS or _under(host, _SOCIAL_DOMAINS):
        return "Social"
    if host in _SEARCH_APPS or _under(host, _SEARCH_DOMAINS) or _is_search_name(host):
        return "Organic Search"
    return "Referral"


def _referrer_host(referrer: str | None) -> str | None:
    if not isinstance(referrer, str) or not referrer.strip():
        return None
    text = referrer.strip()
    if "://" not in text:
        text = "//" + text  # a bare "www.google.com/search" parses as a host only with a leading //
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:  # e.g. an unbalanced "[" taken for an IPv6 literal
        return None
    if parts.scheme.lower() == "app" or not host:
        return None
    return host.rstrip(".")


def _under(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _is_search_name(host: str) -> bool:
    """``google.<tld>``/``yandex.<tld>`` with a one- or two-label country suffix, any subdomain."""
    labels = host.split(".")
    for index, label in enumerate(labels):
        suffix = labels[index + 1 :]
        if label in _SEARCH_NAMES and 1 <= len(suffix) <= 2 and all(0 < len(part) <= 3 for part in suffix):
            return True
    return False
