"""Checks of raw input that the models cannot express: text content and files named by the config.

- Text: a NUL character is refused anywhere; control characters are refused in the credentials
  (they end up in HTTP headers); any text longer than `MAX_TEXT` characters is refused.
- Files: with TLS verification on, `proxmox_api.ca_file` must exist, be a readable regular file
  (or a directory of CA certificates) and hold at least one PEM certificate — checked at load, so
  `config check` reports it and the run never fails later on an OSError from the TLS library.

Invariants: messages name key paths, never secret values; `text_problems` never raises on any
Python data (cycles and deep nesting included). Reads files (edge module).
"""

from __future__ import annotations

import os
import re
import ssl
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from proxlb.config.model import ProxlbConfig
from proxlb.config.render import SECRET_KEYS, key_path, show_value
from proxlb.config.source import read_limited

MAX_TEXT = 4096
_HEADER_KEYS = SECRET_KEYS | {"user", "token_id"}
MAX_CA_BYTES = 16 << 20


def _walk(data: Any) -> Iterator[tuple[tuple[str | int, ...], Any, bool]]:
    """(path, text, is_key) for every string key and value, iteratively (no recursion limit)."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    seen: set[int] = set()
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            yield path, value, False
        elif isinstance(value, (Mapping, list, tuple)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, Mapping):
                for key, child in value.items():
                    label = key if isinstance(key, str) else show_value(key)
                    if isinstance(key, str):
                        yield (*path, "[key]"), key, True
                    stack.append(((*path, label), child))
            else:
                stack.extend(((*path, i), child) for i, child in enumerate(value))


def text_problems(data: Any) -> tuple[str, ...]:
    """Problems of the document's text: NUL characters, control characters in credentials, huge text."""
    found: list[str] = []
    for path, text, is_key in _walk(data):
        where = key_path(path[:-1] if is_key else path)
        what = "key" if is_key else "value"
        if "\x00" in text:
            found.append(f"{where}: the {what} contains a NUL character; remove it")
        elif len(text) > MAX_TEXT:
            found.append(f"{where}: a {what} of {len(text)} characters is too long (at most {MAX_TEXT})")
        elif (
            not is_key
            and len(path) == 2
            and path[0] == "proxmox_api"
            and path[1] in _HEADER_KEYS
            and any(ord(c) < 32 or ord(c) == 127 for c in text)
        ):
            found.append(f"{where}: contains a control character (tab, newline …); remove it")
    return tuple(sorted(set(found)))


_HASHED = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


def ca_file_problems(config: ProxlbConfig) -> tuple[str, ...]:
    """Problems of `proxmox_api.ca_file` (checked only when TLS verification is on)."""
    api = config.proxmox_api
    if not api.ssl_verification or not api.ca_file:
        return ()
    path = Path(api.ca_file).expanduser()
    where = f"proxmox_api.ca_file: {show_value(api.ca_file)}"
    hint = "expected the cluster CA certificate (a copy of /etc/pve/pve-root-ca.pem)"
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return (f"{where} does not exist; {hint}",)
    except (OSError, ValueError) as exc:
        error = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a usable path"
        return (f"{where} cannot be read: {error}",)
    if stat.S_ISDIR(info.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            return (f"{where} is a directory that cannot be read",)
        if not any(_HASHED.match(entry.name) for entry in os.scandir(path)):  # what OpenSSL looks up
            return (f"{where} is a directory without hashed certificates (run c_rehash on it); {hint}",)
        return ()
    text, reason = read_limited(path, MAX_CA_BYTES)
    if text is None:
        because = f"it {reason}" if reason and reason.startswith("is ") else reason
        return (f"{where} cannot be read: {because}",)
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError):
        return (f"{where} holds no PEM certificate; {hint}",)
    return ()


def solver_problems(config: ProxlbConfig) -> tuple[str, ...]:
    """`solver.enable: true` without OR-Tools installed (it is the optional `solver` extra for pip)."""
    if not config.solver.enable:
        return ()
    import importlib.util

    try:
        present = importlib.util.find_spec("ortools") is not None
    except (ImportError, ValueError):
        present = False
    if present:
        return ()
    return (
        "solver.enable: true needs OR-Tools, which is not installed: pip install 'proxlb[solver]' "
        "(the Debian package includes it), or set solver.enable: false",
    )
