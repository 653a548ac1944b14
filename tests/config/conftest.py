"""Helpers for configuration tests: write a YAML file and load it with an explicit environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from proxlb.config.load import LoadedConfig, load_config

FIXTURES = Path(__file__).parent / "fixtures"

MINIMAL = """\
proxmox_api:
  hosts: ['pve1.example.com']
  user: proxlb@pve
  token_id: proxlb
  token_secret: 00000000-0000-0000-0000-000000000000
"""


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write `text` as proxlb.yaml (mode 0600) in a fresh directory and return its path."""

    def write(text: str, name: str = "proxlb.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        return path

    return write


@pytest.fixture
def load(write_config: Callable[..., Path]) -> Callable[..., LoadedConfig]:
    """Write and load a config with an empty environment unless `env` is given."""

    def _load(text: str, env: Mapping[str, str] | None = None) -> LoadedConfig:
        return load_config(write_config(text), env or {})

    return _load
