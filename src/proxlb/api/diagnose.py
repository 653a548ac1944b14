"""Turn connection and authentication failures into one line an administrator can act on.

Role: the wording of every API failure that is not PVE's own refusal of a request: wrong
credentials (which user, realm, token id, token or password, what PVE answered, the likely fix),
TLS verification (which host, what to set), unreachable hosts (every host tried and why), plus the
DEBUG line of each HTTP request. Pure text functions, except `RequestLogger`, which only logs.
Invariants: no secret, ticket or Python repr ever appears in the text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from proxlb.api.settings import ApiSettings, Endpoint

log = logging.getLogger("proxlb.api.request")

_PREFIX = "/api2/json"


def pve_answer(status: int, message: str) -> str:
    """'401 Authentication failed!' — PVE's status and reason, without trailing punctuation noise."""
    text = " ".join(message.split()) if message else ""
    return f"HTTP {status} {text}".strip() if status else text


def format_pve_errors(errors: Any) -> str:
    """PVE's per-parameter `errors` object as 'param: reason; …' ('' when empty or unreadable)."""
    if not isinstance(errors, Mapping):
        return ""
    parts = []
    for key, value in errors.items():
        raw = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
        text = " ".join(str(raw).split())
        if text and key != "errors":
            parts.append(f"{key}: {text}")
        elif text:
            parts.append(text)
    return "; ".join(parts)


def _user_realm(user: str) -> tuple[str, str]:
    name, _, realm = user.partition("@")
    return name, realm


def _realm_hint(realm: str) -> str:
    if realm == "pam":
        return "realm 'pam' is for Linux system users of the node (e.g. root@pam)"
    if realm == "pve":
        return "realm 'pve' is for users created in Proxmox VE (pveum user add NAME@pve)"
    if not realm:
        return "the user has no realm: write it as user@realm, e.g. root@pam or proxlb@pve"
    return f"realm '{realm}' must exist on the cluster (Datacenter → Permissions → Realms)"


def _quote(answer: str) -> str:
    return f"'{answer}'" if answer else "nothing"


def auth_failure(settings: ApiSettings, endpoint: Endpoint | str, answer: str) -> str:
    """The one line for rejected credentials, naming what was tried and what to check."""
    name, realm = _user_realm(settings.user)
    if settings.uses_token:
        token = f"{settings.user}!{settings.token_id}"
        return (
            f"authentication failed at {endpoint}: API token {token} (user {name}, realm {realm or '-'}, "
            f"token id {settings.token_id}) was rejected; PVE answered {_quote(answer)}. "
            f"Likely fix: check token_secret (PVE shows it once, at creation); check that token "
            f"'{settings.token_id}' exists for {settings.user} and has not expired "
            f"(pveum user token list {settings.user}); {_realm_hint(realm)}"
        )
    return (
        f"authentication failed at {endpoint}: password login of user {name} (realm {realm or '-'}) "
        f"was rejected; PVE answered {_quote(answer)}. Likely fix: check the password "
        f"(proxmox_api.pass / PROXLB_PASS / pass_file) and the realm: {_realm_hint(realm)}"
    )


def privilege_hint(settings: ApiSettings) -> str:
    """Where to grant missing privileges; a token with privilege separation needs its own ACL."""
    if settings.uses_token:
        token = f"{settings.user}!{settings.token_id}"
        return (
            f"grant them on path '/' to the user, and — if token {token} has privilege separation "
            f"(privsep 1) — to the token itself: pveum acl modify / --roles proxlb --tokens '{token}' "
            "(or recreate the token with --privsep 0)"
        )
    return f"grant them on path '/': pveum acl modify / --roles proxlb --users {settings.user}"


def tls_reason(text: str, settings: ApiSettings) -> str:
    """Short reason for a TLS failure, from the SSL error text (never the whole repr)."""
    lower = text.lower()
    if "hostname mismatch" in lower or "doesn't match" in lower or "not valid for" in lower:
        return "certificate verify failed: the certificate is not issued for this host name"
    if "certificate verify failed" in lower or "certificate_verify_failed" in lower:
        if "self-signed" in lower or "self signed" in lower:
            detail = "self-signed certificate"
        elif "expired" in lower:
            detail = "certificate has expired"
        elif "unable to get local issuer" in lower:
            detail = "unknown issuer"
        else:
            detail = "untrusted certificate"
        where = f" (not signed by ca_file {settings.ca_file})" if settings.ca_file else ""
        return f"certificate verify failed: {detail}{where}"
    if "wrong version number" in lower or "unknown protocol" in lower:
        return "TLS handshake failed: the port does not speak HTTPS"
    return "TLS handshake failed"


def tls_fix(settings: ApiSettings) -> str:
    if settings.ca_file:
        return (
            f"set proxmox_api.ca_file to the CA that signed the cluster's certificate "
            f"(now {settings.ca_file}; PVE's own CA is /etc/pve/pve-root-ca.pem), "
            "or ssl_verification: false for a lab"
        )
    return (
        "set proxmox_api.ca_file (PVE's own CA is /etc/pve/pve-root-ca.pem), "
        "or ssl_verification: false for a lab"
    )


def unreachable_summary(
    method: str, path: str, problems: Sequence[tuple[Endpoint, str]], settings: ApiSettings
) -> str:
    """One line: every host tried and why, plus what to do when the reasons say so."""
    latest: dict[Endpoint, str] = {}
    for endpoint, why in problems:
        latest[endpoint] = why
    if latest and all(why.startswith("certificate verify failed") for why in latest.values()):
        hosts = ", ".join(str(e) for e in latest)
        reasons = sorted({why.split(": ", 1)[-1] for why in latest.values()})
        return f"certificate verify failed for {hosts} ({'; '.join(reasons)}) — {tls_fix(settings)}"
    tried = "; ".join(f"{e}: {why}" for e, why in latest.items()) or "no host configured"
    hints = []
    if any(why.startswith(("certificate verify", "TLS")) for why in latest.values()):
        hints.append(tls_fix(settings))
    if any("does not resolve" in why for why in latest.values()):
        hints.append("check proxmox_api.hosts spelling and DNS")
    if any(why.startswith(("connection refused", "connect timeout")) for why in latest.values()):
        hints.append("check that pveproxy runs and port 8006 (or the configured port) is reachable")
    count = len(latest)
    head = f"no Proxmox API host answered {method} {path} ({count} tried)"
    return f"{head}: {tried}" + (f" — {'; '.join(hints)}" if hints else "")


class UnreachableError(Exception):
    """The host did not answer. `sent` is False when the request provably never reached it.

    `permanent`: retrying cannot help (TLS verification, a name that does not resolve).
    `refused`: nothing listens there (yet): a wrong host or port, or pveproxy restarting.
    """

    def __init__(self, message: str, sent: bool, permanent: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.sent = sent
        self.permanent = permanent
        self.refused = refused


_DNS = ("Name or service not known", "Temporary failure in name resolution", "nodename nor servname")


def classify_failure(exc: requests.exceptions.RequestException, settings: ApiSettings) -> UnreachableError:
    """Classify a requests failure: was the request possibly delivered? Can a retry help?"""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return UnreachableError(f"connect timeout after {settings.timeout_seconds:.0f} s", sent=False)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = tls_reason(str(exc), settings)
        return UnreachableError(reason, sent=False, permanent=reason.startswith("certificate verify"))
    if isinstance(exc, requests.exceptions.Timeout):
        return UnreachableError(f"no answer within {settings.timeout_seconds:.0f} s", sent=True)
    text = str(exc)
    if any(marker in text for marker in _DNS):
        return UnreachableError("host name does not resolve", sent=False, permanent=True)
    if "NewConnectionError" in repr(exc) or "Connection refused" in text:
        return UnreachableError("connection refused", sent=False, refused=True)
    return UnreachableError(f"connection lost ({type(exc).__name__})", sent=True)


class RequestLogger:
    """A `requests` response hook: one DEBUG line per HTTP request (method, path, status, ms, bytes)."""

    def __init__(self, endpoint: Endpoint, secrets: tuple[str, ...]) -> None:
        self.endpoint = endpoint
        self.secrets = tuple(s for s in secrets if s)

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        if not log.isEnabledFor(logging.DEBUG):
            return response
        request = getattr(response, "request", None)
        path = str(getattr(request, "path_url", "?"))
        if path.startswith(_PREFIX):
            path = path[len(_PREFIX) :]
        for secret in self.secrets:
            path = path.replace(secret, "********")
        elapsed = getattr(response, "elapsed", None)
        ms = elapsed.total_seconds() * 1000 if elapsed is not None else 0.0
        size = len(response.content or b"")
        log.debug(
            "%s %s → %s in %.0f ms, %d bytes (%s)",
            getattr(request, "method", "?"),
            path,
            response.status_code,
            ms,
            size,
            self.endpoint,
        )
        return response
