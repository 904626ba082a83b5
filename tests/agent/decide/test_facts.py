"""Device info from user agents (ua-parser plus the SDK app fallback) and traffic source attribution."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent.agent.decide import facts
from edge_agent.agent.decide.facts import MAX_UA_LENGTH, device_info, traffic_source

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SMART_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) "
    "Version/6.0 TV Safari/538.1"
)


@pytest.mark.parametrize(
    ("ua", "expected"),
    [
        # The SDKs' own app user agents (sdk-wire-contract §2.4): OS from the library, no browser.
        ("Shop/2.3.0 (Android 14; Pixel 7; panther; arm64-v8a)", (None, "mobile", None, "Android")),
        ("Shop/2.3.0 (Android 14; Pixel 7)", (None, "mobile", None, "Android")),
        ("My Shop/2.3.0 (Android 14; SM-S918B; dm3q; arm64-v8a)", ("Samsung", "mobile", None, "Android")),
        ("Shop/2.3.0 (Android 14; Pixel Tablet; tangorpro; arm64-v8a)", (None, "tablet", None, "Android")),
        ("Shop/2.3.0 (iOS 17.5; iPhone; arm64)", ("Apple", "mobile", None, "iOS")),
        ("Shop/2.3.0 (iOS 17.5; iPhone15,2; arm64)", ("Apple", "mobile", None, "iOS")),
        ("Shop/2.3.0 (iOS 17.5; iPad; arm64)", ("Apple", "tablet", None, "iOS")),
        ("Shop/2.3.0 (iOS 17.5; iPad13,1; arm64)", ("Apple", "tablet", None, "iOS")),
        # Browsers: everything from the library.
        (CHROME_WINDOWS, (None, "desktop", "Chrome", "Windows")),
        (SAFARI_MAC, ("Apple", "desktop", "Safari", "Mac OS X")),
        (FIREFOX_LINUX, (None, "desktop", "Firefox", "Linux")),
        (CHROME_ANDROID, ("Google", "mobile", "Chrome Mobile", "Android")),
        (CHROME_ANDROID_TABLET, (None, "tablet", "Chrome", "Android")),
        (SAFARI_IPHONE, ("Apple", "mobile", "Mobile Safari", "iOS")),
        (SAFARI_IPAD, ("Apple", "tablet", "Mobile Safari", "iOS")),
        # Neither phone, tablet nor computer.
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", (None, "other", "Googlebot", None)),
        (SMART_TV, ("Samsung", "other", "Safari", "Tizen")),
        ("curl/8.0", (None, "other", "curl", None)),
        ("Dart/3.3 (dart:io)", (None, "other", None, None)),
        ("", (None, "other", None, None)),
        ("   ", (None, "other", None, None)),
        (None, (None, "other", None, None)),
    ],
)
def test_device_info(ua: str | None, expected: tuple[str | None, str, str | None, str | None]) -> None:
    brand, kind, browser, os = expected
    assert device_info(ua) == {"brand": brand, "type": kind, "browser": browser, "os": os}


def test_device_info_tolerates_non_strings() -> None:
    assert device_info(42)["type"] == "other"  # type: ignore[arg-type]


def test_device_info_is_cached_but_returns_fresh_dicts() -> None:
    facts._device_info.cache_clear()
    first = device_info(CHROME_WINDOWS)
    first["type"] = "tampered"
    second = device_info(CHROME_WINDOWS)
    assert second["type"] == "desktop"
    assert facts._device_info.cache_info().hits == 1


def test_overlong_user_agents_are_cut_before_parsing() -> None:
    facts._device_info.cache_clear()
    long_ua = CHROME_WINDOWS + " " + "x" * 100_000
    assert device_info(long_ua)["os"] == "Windows"
    # The cache holds the cut string: asking for it directly is a hit, not a second entry.
    facts._device_info(long_ua[:MAX_UA_LENGTH])
    info = facts._device_info.cache_info()
    assert (info.currsize, info.hits) == (1, 1)


@pytest.mark.parametrize(
    ("utm", "referrer", "expected"),
    [
        (None, None, "Direct"),
        ({}, "", "Direct"),
        ({"utm_medium": "cpc"}, None, "Paid Search"),
        ({"utm_medium": "PPC"}, None, "Paid Search"),  # mediums are case-insensitive
        ({"utm_medium": "paid"}, None, "Paid Search"),
        ({"utm_medium": " paidsearch "}, None, "Paid Search"),
        ({"utm_medium": "display"}, None, "Display"),
        ({"utm_medium": "banner"}, None, "Display"),
        ({"utm_medium": "cpm"}, None, "Display"),
        ({"utm_medium": "email"}, None, "Email"),
        ({"utm_medium": "newsletter"}, None, "Email"),
        ({"utm_medium": "social"}, None, "Social"),
        # the medium decides before the referrer
        ({"utm_medium": "cpc", "utm_source": "google"}, "https://www.facebook.com/", "Paid Search"),
        ({"utm_medium": "email"}, "https://www.google.com/", "Email"),
        # an unknown or non-string medium falls through to the referrer
        ({"utm_medium": "affiliate"}, None, "Direct"),
        ({"utm_medium": "affiliate"}, "https://partner.example/", "Referral"),
        ({"utm_medium": 7}, "https://www.bing.com/search?q=x", "Organic Search"),
        ({"utm_source": "newsletter"}, None, "Direct"),  # only utm_medium counts
        (None, "https://www.facebook.com/some/post", "Social"),
        (None, "https://l.instagram.com/?u=x", "Social"),
        (None, "https://t.co/abc", "Social"),
        (None, "https://x.com/someone", "Social"),
        (None, "android-app://com.facebook.katana/", "Social"),
        (None, "https://www.google.com/", "Organic Search"),
        (None, "https://www.google.co.uk/search?q=shoes", "Organic Search"),
        (None, "https://google.com.br/", "Organic Search"),
        (None, "https://yandex.ru/search/?text=x", "Organic Search"),
        (None, "https://duckduckgo.com/", "Organic Search"),
        (None, "https://search.yahoo.com/search?p=x", "Organic Search"),
        (None, "android-app://com.google.android.googlequicksearchbox/https/google.com", "Organic Search"),
        (None, "www.bing.com/search?q=x", "Organic Search"),  # bare host/path
        (None, "HTTPS://WWW.GOOGLE.DE/", "Organic Search"),
        (None, "https://www.example.com/blog", "Referral"),
        (None, "https://notfacebook.com/", "Referral"),  # a domain is matched on label boundaries
        (None, "https://google.example.com/", "Referral"),  # google followed by a real domain, not a TLD
        (None, "https://www.yahoo.com/", "Referral"),  # the portal, not its search
        (None, "android-app://com.example.partner/", "Referral"),
        (None, "app://home", "Direct"),  # the app's own navigation is not a referral
        (None, "APP://cart", "Direct"),
        (None, "http://[::1", "Direct"),  # unparseable
        (None, "https://", "Direct"),  # no host
        ({"utm_medium": None}, None, "Direct"),
        ("not-a-dict", "https://www.example.com/", "Referral"),
    ],
)
def test_traffic_source(utm: Any, referrer: Any, expected: str) -> None:
    assert traffic_source(utm, referrer) == expected
