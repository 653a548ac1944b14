"""`parse_api_host`: every documented form, upstream's bare-IPv6 rule, rejects, and round-trips."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxlb.config.hosts import ApiEndpoint, host_warning, parse_api_host


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("virt01.example.com", "virt01.example.com", 8006),
        ("10.10.10.10", "10.10.10.10", 8006),
        ("virt01.example.com:443", "virt01.example.com", 443),
        ("10.0.0.1:8007", "10.0.0.1", 8007),
        ("[fc00::1]", "fc00::1", 8006),
        ("[fc00::1]:443", "fc00::1", 443),
        ("[::1]:18006", "::1", 18006),
        # upstream: bare IPv6, the port is after the last colon
        ("fc00::1:8006", "fc00::1", 8006),
        ("2001:db8::10:443", "2001:db8::10", 443),
        # ours: no valid IPv6 before the last colon → the whole text is the host
        ("fe01::1", "fe01::1", 8006),
        ("::1", "::1", 8006),
        ("2001:db8:0:0:0:0:0:1", "2001:db8:0:0:0:0:0:1", 8006),
        # ambiguous compressed form ending in a decimal group: upstream's rule decides (use brackets!)
        ("fe80::1:2:3:4:5:6:7", "fe80::1:2:3:4:5:6", 7),
        # upstream's own documented example: not valid IPv6, kept as host (and warned about)
        ("fe01::bad:code::cafe", "fe01::bad:code::cafe", 8006),
        ("  pve1  ", "pve1", 8006),
    ],
)
def test_documented_forms(text: str, host: str, port: int) -> None:
    assert parse_api_host(text) == ApiEndpoint(host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "https://pve1:8006",
        "pve1:abc",
        "pve1:0",
        "pve1:65536",
        ":8006",
        "[fc00::1",
        "[fc00::1]:",
        "[fc00::1]:99999",
        "[pve1]:8006",
        "pve 1",
        "pve1/api2",
    ],
)
def test_rejects_unusable_entries(text: str) -> None:
    with pytest.raises(ValueError):
        parse_api_host(text)


def test_netloc_brackets_ipv6_only() -> None:
    assert parse_api_host("fc00::1:8006").netloc == "[fc00::1]:8006"
    assert parse_api_host("pve1").netloc == "pve1:8006"
    assert str(parse_api_host("10.0.0.1:1")) == "10.0.0.1:1"


def test_warning_only_for_invalid_bare_ipv6() -> None:
    assert host_warning("fe01::bad:code::cafe") is not None
    assert host_warning("fc00::1:8006") is None
    assert host_warning("pve1") is None
    assert host_warning("https://x") is None  # an error, reported by validation instead


_ports = st.integers(min_value=1, max_value=65535)
_labels = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
_hostnames = st.lists(_labels, min_size=1, max_size=4).map(".".join)
_ipv6 = st.ip_addresses(v=6).map(str)
_ipv4 = st.ip_addresses(v=4).map(str)


@given(host=st.one_of(_hostnames, _ipv4, _ipv6), port=_ports)
def test_netloc_round_trips(host: str, port: int) -> None:
    endpoint = ApiEndpoint(host, port)
    assert parse_api_host(endpoint.netloc) == endpoint


@given(host=st.one_of(_hostnames, _ipv4))
def test_default_port_without_colon(host: str) -> None:
    assert parse_api_host(host) == ApiEndpoint(host, 8006)


@given(address=st.ip_addresses(v=6))
def test_bracketed_ipv6_keeps_the_address(address: ipaddress.IPv6Address) -> None:
    endpoint = parse_api_host(f"[{address}]")
    assert ipaddress.IPv6Address(endpoint.host) == address
    assert endpoint.port == 8006
