"""Connection settings of the Proxmox VE API client: endpoints, credentials, TLS, timeouts.

Role: turn the `proxmox_api` config section (or any object with the same attribute names) into a
frozen `ApiSettings`; hosts follow `proxlb.config.hosts`. Pure apart from reading the optional
secret files/environment named by the config. Invariants: secrets never appear in `repr()` or
`str()`; every endpoint has an explicit port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxlb.config.hosts import DEFAULT_API_PORT, ApiEndpoint, parse_api_host
from proxlb.errors import ConfigError

# One endpoint type and one host grammar for the whole program: the config's (upstream's rules).
Endpoint = ApiEndpoint
DEFAULT_PORT = DEFAULT_API_PORT


def parse_endpoint(text: str) -> Endpoint:
    """Parse one upstream `hosts` entry (name, name:port, IPv4[:port], [v6][:port], v6, v6:port)."""
    return parse_api_host(text)


@dataclass(frozen=True)
class ApiSettings:
    """Everything the client needs to talk to the cluster. Secrets are excluded from repr."""

    endpoints: tuple[Endpoint, ...]
    user: str
    password: str | None = field(default=None, repr=False)
    token_id: str | None = None
    token_secret: str | None = field(default=None, repr=False)
    verify_tls: bool = True
    ca_file: str | None = None
    timeout_seconds: float = 10.0
    retries: int = 3
    backoff_seconds: float = 1.0

    @property
    def deadline_seconds(self) -> float:
        """The whole of one request (connect, headers, body): 3 × `timeout`, which is per read."""
        return 3 * self.timeout_seconds

    @property
    def uses_token(self) -> bool:
        return bool(self.token_secret)

    def secrets(self) -> tuple[str, ...]:
        """The secret strings to redact wherever text leaves the process."""
        return tuple(s for s in (self.password, self.token_secret) if s)

    def connection_key(self) -> tuple[object, ...]:
        """Equal keys mean an existing client can be reused after a config reload."""
        return (
            self.endpoints,
            self.user,
            self.password,
            self.token_id,
            self.token_secret,
            self.verify_tls,
            self.ca_file,
            self.timeout_seconds,
            self.retries,
            self.backoff_seconds,
        )


def settings_from_config(api_config: Any, env: Mapping[str, str] | None = None) -> ApiSettings:
    """Build `ApiSettings` from a `proxmox_api` config section (attribute access, upstream key names).

    Secrets may also come from PROXLB_PASS / PROXLB_TOKEN_SECRET or pass_file / token_secret_file.
    Raises ConfigError listing every problem found.
    """
    environ = os.environ if env is None else env
    problems: list[str] = []
    endpoints: list[Endpoint] = []
    if callable(getattr(api_config, "endpoints", None)):
        for item in api_config.endpoints():
            host, port = item if isinstance(item, tuple) else (item.host, item.port)
            endpoints.append(Endpoint(str(host), int(port)))
    else:
        for text in getattr(api_config, "hosts", None) or []:
            try:
                endpoints.append(parse_endpoint(str(text)))
            except ValueError as exc:
                problems.append(f"proxmox_api.hosts: {exc}")
    if not endpoints and not problems:
        problems.append("proxmox_api.hosts: no Proxmox API host is defined")
    user = str(getattr(api_config, "user", None) or getattr(api_config, "username", None) or "")
    if not user:
        problems.append("proxmox_api.user: missing (user@realm)")
    password = _secret(api_config, "password", "pass_file", environ.get("PROXLB_PASS"), problems)
    token_secret = _secret(
        api_config, "token_secret", "token_secret_file", environ.get("PROXLB_TOKEN_SECRET"), problems
    )
    token_id = getattr(api_config, "token_id", None) or None
    if token_id and ("@" in token_id or "!" in token_id):
        problems.append("proxmox_api.token_id: give the token name only, without 'user@realm!'")
    if password and token_secret:
        problems.append("proxmox_api: password and token authentication are mutually exclusive")
    if token_secret and not token_id:
        problems.append("proxmox_api.token_id: required with token_secret")
    if not password and not token_secret:
        problems.append("proxmox_api: neither a password nor a token secret is configured")
    if problems:
        raise ConfigError("invalid proxmox_api settings", tuple(problems))
    timeout = float(getattr(api_config, "timeout", 10) or 10)
    return ApiSettings(
        endpoints=tuple(endpoints),
        user=user,
        password=password,
        token_id=token_id if token_secret else None,
        token_secret=token_secret,
        verify_tls=bool(getattr(api_config, "ssl_verification", True)),
        ca_file=getattr(api_config, "ca_file", None) or None,
        timeout_seconds=max(1.0, timeout),
        # upstream's `retries` counted TCP probes per host; reads here get at least 3 rounds over all hosts
        retries=max(3, int(getattr(api_config, "retries", 3) or 1)),
        backoff_seconds=max(0.0, float(getattr(api_config, "wait_time", 1) or 0)),
    )


def _secret(
    api_config: Any, attr: str, file_attr: str, from_env: str | None, problems: list[str]
) -> str | None:
    value = getattr(api_config, attr, None)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if value:
        return str(value)
    path = getattr(api_config, file_attr, None)
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            problems.append(f"proxmox_api.{file_attr}: cannot read {path}: {exc.strerror}")
            return None
    return from_env or None
