"""Parsing of `proxmox_api.hosts` entries into (host, port) endpoints. Pure; no I/O, no DNS.

Accepted forms (upstream ProxLB 2.3.0 documents the same four), default port 8006:

- `host` / `10.0.0.1`                 → (host, 8006)
- `host:port` / `10.0.0.1:443`        → (host, port)
- `[v6]` / `[v6]:port`                → (v6, 8006) / (v6, port)
- bare IPv6 `v6` (two or more colons, no brackets): upstream's rule "the port is after the last
  colon" is applied only when it makes sense: the text after the last colon is decimal, in
  1..65535, and the text before it is itself a valid IPv6 address. Then it is `(before, port)`
  (`fc00::1:8006` → (`fc00::1`, 8006)). Otherwise the whole string is the host with port 8006
  (`fe01::1` → (`fe01::1`, 8006); upstream would have produced host `fe01:` with port 1).
  Write `[v6]:port` to avoid any ambiguity.

Invariants: `parse_api_host` never returns a port outside 1..65535 and never returns brackets in
`host`; it raises `ValueError` (message without the input's surroundings) for unusable strings.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

DEFAULT_API_PORT = 8006

_BRACKETED = re.compile(r"^\[(?P<host>[^\[\]]+)\](?::(?P<port>[^:]*))?$")
_ALLOWED = re.compile(r"^[A-Za-z0-9._%:-]+$")


@dataclass(frozen=True, slots=True)
class ApiEndpoint:
    """One Proxmox VE API endpoint. `host` is a host name, IPv4 or IPv6 address (no brackets)."""

    host: str
    port: int = DEFAULT_API_PORT

    @property
    def is_ipv6(self) -> bool:
        """True if `host` is an IPv6 address literal."""
        return _is_ipv6(self.host)

    @property
    def netloc(self) -> str:
        """`host:port` for URLs, with brackets around IPv6 literals (`[fc00::1]:8006`)."""
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return self.netloc


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _port(text: str) -> int:
    if not text.isascii() or not text.isdecimal():
        raise ValueError(f"port {text!r} is not a number; expected a port 1-65535")
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range; expected a port 1-65535")
    return port


def _name(host: str) -> str:
    """A host name or IPv4 address as the TLS/socket layers accept it (DNS label rules), else ValueError."""
    if "%" in host:
        raise ValueError("'%' is only allowed in an IPv6 zone, e.g. [fe80::1%eth0]")
    if len(host) > 253:
        raise ValueError(f"a host name of {len(host)} characters is too long (at most 253)")
    labels = host.removesuffix(".").split(".")
    if any(not label for label in labels):
        raise ValueError("empty label in the host name (two dots in a row, or a leading dot)")
    if any(len(label) > 63 for label in labels):
        raise ValueError("a part of the host name between dots is longer than 63 characters")
    return host


def parse_api_host(text: str) -> ApiEndpoint:
    """Parse one `hosts` entry; see the module docstring for the accepted forms.

    Raises `ValueError` for empty strings, URLs, whitespace, bad ports and non-IPv6 text in brackets.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty host; expected host, host:port, [IPv6] or [IPv6]:port")
    if "://" in s:
        raise ValueError("a URL is not a host; expected host, host:port, [IPv6] or [IPv6]:port")
    if s.startswith("["):
        m = _BRACKETED.match(s)
        if m is None:
            raise ValueError("unbalanced brackets; expected [IPv6] or [IPv6]:port")
        host = m.group("host")
        if not _is_ipv6(host):
            raise ValueError(f"{host!r} in brackets is not an IPv6 address")
        port_text = m.group("port")
        return ApiEndpoint(host, DEFAULT_API_PORT if port_text is None else _port(port_text))
    if not _ALLOWED.match(s):
        raise ValueError("contains a character not allowed in a host; expected host, host:port or [IPv6]")
    colons = s.count(":")
    if colons == 0:
        return ApiEndpoint(_name(s), DEFAULT_API_PORT)
    if colons == 1:
        host, port_text = s.split(":")
        if not host:
            raise ValueError("missing host before ':'")
        return ApiEndpoint(_name(host), _port(port_text))
    before, _, last = s.rpartition(":")
    if last.isascii() and last.isdecimal() and 1 <= int(last) <= 65535 and _is_ipv6(before):
        return ApiEndpoint(before, int(last))
    return ApiEndpoint(s, DEFAULT_API_PORT)


def host_warning(text: str) -> str | None:
    """A warning for an entry that parses but will probably not connect (an invalid bare IPv6)."""
    try:
        endpoint = parse_api_host(text)
    except ValueError:
        return None
    if ":" in endpoint.host and not endpoint.is_ipv6:
        return (
            f"{text!r} is neither a valid IPv6 address nor host:port; ProxLB cannot connect to it and "
            "skips it (write an IPv6 address as [addr] or [addr]:port)"
        )
    return None
