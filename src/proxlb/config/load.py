"""Reading `proxlb.yaml`: file → YAML → fix-ups → secrets → validation → warnings. Edge module
(reads the config file, secret files and, when `env` is None, the process environment).

Invariants: a bad file raises one `ConfigError` listing every problem found (YAML, types,
cross-field checks), each naming its key path; warnings never stop loading; no secret is ever
part of a message.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from proxlb.config.credentials import check_credentials, resolve_credentials
from proxlb.config.lint import config_warnings
from proxlb.config.model import ProxlbConfig
from proxlb.config.normalize import normalize
from proxlb.config.render import join_problems, render_validation_error, render_yaml_error
from proxlb.config.unknown import unknown_key_warnings
from proxlb.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/proxlb/proxlb.yaml")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and the warnings found while loading it."""

    config: ProxlbConfig
    warnings: tuple[str, ...] = ()


class _Loader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                line = key_node.start_mark.line + 1
                self.duplicates.append(f"duplicate key '{key}' at line {line}; the last occurrence wins")
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, path: Path) -> tuple[Any, tuple[str, ...]]:
    """(document, duplicate-key warnings); raises ConfigError with line/column on syntax errors."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        problem = render_yaml_error(str(path), exc)
        raise ConfigError(problem, (problem,)) from None
    finally:
        loader.dispose()
    return data, tuple(f"{path}: {d}" for d in loader.duplicates)


@dataclass(frozen=True)
class Evaluation:
    """Everything found while loading: the config (None when there are problems), problems, warnings."""

    config: ProxlbConfig | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _read(path: Path) -> str:
    if not path.exists():
        raise ConfigError(f"The config file {path} does not exist.", (f"{path}: file does not exist",))
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a config file", (f"{path}: is a directory",))
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        problem = f"{path}: cannot read config file: {reason}"
        raise ConfigError(problem, (problem,)) from None


def _permission_warning(path: Path, raw_api: Mapping[Any, Any]) -> tuple[str, ...]:
    if not any(raw_api.get(k) for k in ("pass", "password", "token_secret")):
        return ()
    try:
        mode = path.stat().st_mode
    except OSError:
        return ()
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        return (
            f"{path} holds a secret and is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            "chmod 600 it, or use proxmox_api.pass_file / token_secret_file or the environment",
        )
    return ()


def evaluate_mapping(raw: Any, path: Path, env: Mapping[str, str]) -> Evaluation:
    """Validate an already-parsed YAML document, collecting every problem and warning (never raises)."""
    if raw is None:
        return Evaluation(
            None, (f"{path}: the file is empty; expected a mapping with a proxmox_api section",)
        )
    if not isinstance(raw, Mapping):
        kind = type(raw).__name__
        return Evaluation(None, (f"{path}: the top level is a {kind}; expected a mapping of sections",))
    data, warnings = normalize(raw)
    warnings += tuple(unknown_key_warnings(data))
    late_problems: tuple[str, ...] = ()
    api_raw = data.get("proxmox_api")
    if isinstance(api_raw, Mapping):
        resolved = resolve_credentials(api_raw, env, path.parent)
        data["proxmox_api"] = resolved.api
        cred_problems, cred_warnings = check_credentials(resolved)
        late_problems = resolved.problems + cred_problems
        warnings += resolved.warnings + cred_warnings + _permission_warning(path, api_raw)
    try:
        config = ProxlbConfig.model_validate(data)
    except ValidationError as exc:
        return Evaluation(None, render_validation_error(exc) + late_problems, warnings)
    if late_problems:
        return Evaluation(None, late_problems, warnings)
    return Evaluation(config, (), warnings + config_warnings(config))


def evaluate_file(path: Path, env: Mapping[str, str] | None = None) -> Evaluation:
    """Read, parse and validate `path`; every finding is returned, nothing raised."""
    try:
        raw, duplicates = parse_yaml(_read(path), path)
    except ConfigError as exc:
        return Evaluation(None, exc.problems or (str(exc),))
    found = evaluate_mapping(raw, path, os.environ if env is None else env)
    return Evaluation(found.config, found.problems, duplicates + found.warnings)


def load_config(path: Path = DEFAULT_CONFIG_PATH, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate `path`; `env` defaults to the process environment (for secrets).

    Raises `ConfigError` whose `problems` lists every problem (the message also lists the
    warnings, e.g. the unknown key that explains a missing one); warnings are returned, not logged.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"The config file {path} does not exist.", (f"{path}: file does not exist",))
    found = evaluate_file(path, env)
    if found.config is None:
        n = len(found.problems)
        message = join_problems(
            f"Invalid configuration {path} ({n} problem{'s' if n != 1 else ''}):", found.problems
        )
        if found.warnings:
            message = join_problems(message + "\nWarnings:", found.warnings)
        raise ConfigError(message, found.problems)
    log.debug("loaded %s with %d warning(s)", path, len(found.warnings))
    return LoadedConfig(found.config, found.warnings)
