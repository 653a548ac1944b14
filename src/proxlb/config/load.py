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

from pydantic import ValidationError

from proxlb.config.credentials import (
    ENV_PASS,
    ENV_TOKEN_SECRET,
    check_credentials,
    resolve_credentials,
)
from proxlb.config.inputs import ca_file_problems, solver_problems, text_problems
from proxlb.config.lint import config_warnings
from proxlb.config.model import ProxlbConfig
from proxlb.config.normalize import normalize
from proxlb.config.render import SECRET_KEYS, join_problems, one_line, render_validation_error, scrub
from proxlb.config.source import parse_yaml, read_config_text
from proxlb.config.unknown import as_problem, lenient_wanted, unknown_key_warnings
from proxlb.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/proxlb/proxlb.yaml")


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and the warnings found while loading it."""

    config: ProxlbConfig
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evaluation:
    """Everything found while loading: the config (None when there are problems), problems, warnings."""

    config: ProxlbConfig | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


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


def evaluate_mapping(raw: Any, path: Path, env: Mapping[str, str], lenient: bool = False) -> Evaluation:
    """Validate an already-parsed YAML document, collecting every problem and warning (never raises).

    Unknown keys are problems unless `lenient` or the document says `service.lenient_config: true`."""
    if raw is None:
        return Evaluation(
            None, (f"{path}: the file is empty; expected a mapping with a proxmox_api section",)
        )
    if not isinstance(raw, Mapping):
        kind = type(raw).__name__
        return Evaluation(None, (f"{path}: the top level is a {kind}; expected a mapping of sections",))
    secrets = [env.get(ENV_PASS, ""), env.get(ENV_TOKEN_SECRET, "")]
    found = _evaluate(raw, path, env, secrets, lenient or lenient_wanted(raw))
    return Evaluation(
        found.config,
        tuple(scrub(p, secrets) for p in found.problems),
        tuple(scrub(w, secrets) for w in found.warnings),
    )


def _evaluate(
    raw: Mapping[Any, Any], path: Path, env: Mapping[str, str], secrets: list[str], lenient: bool
) -> Evaluation:
    """Validate; every secret value seen (YAML, environment, secret files) is added to `secrets`."""
    data, warnings = normalize(raw)
    unknown = tuple(unknown_key_warnings(data))
    text = text_problems(data)
    late_problems = text
    if lenient:
        warnings += unknown
    else:
        late_problems += tuple(as_problem(w) for w in unknown)
    api_raw = data.get("proxmox_api")
    if isinstance(api_raw, Mapping):
        secrets += [str(v) for k, v in api_raw.items() if k in SECRET_KEYS and v not in (None, "")]
        resolved = resolve_credentials(api_raw, env, path.parent)
        data["proxmox_api"] = resolved.api
        secrets += [str(resolved.api[k]) for k in SECRET_KEYS if resolved.api.get(k) not in (None, "")]
        cred_problems, cred_warnings = check_credentials(resolved)
        late_problems += resolved.problems + cred_problems
        warnings += resolved.warnings + cred_warnings + _permission_warning(path, api_raw)
    try:
        config = ProxlbConfig.model_validate(data)
    except ValidationError as exc:
        # a value already reported as unusable text (NUL, far too long) is not reported twice
        flagged = tuple(p.split(": ", 1)[0] + ":" for p in text)
        rendered = tuple(p for p in render_validation_error(exc) if not p.startswith(flagged))
        problems = rendered + late_problems
    else:
        problems = late_problems + ca_file_problems(config) + solver_problems(config)
    if problems:
        return Evaluation(None, problems, warnings)
    return Evaluation(config, (), warnings + config_warnings(config))


def evaluate_file(path: Path, env: Mapping[str, str] | None = None, lenient: bool = False) -> Evaluation:
    """Read, parse and validate `path`; every finding is returned, nothing raised."""
    try:
        raw, duplicates = parse_yaml(read_config_text(path), path)
    except ConfigError as exc:
        return Evaluation(None, tuple(one_line(p) for p in exc.problems or (str(exc),)))
    found = evaluate_mapping(raw, path, os.environ if env is None else env, lenient)
    return Evaluation(found.config, found.problems, tuple(one_line(d) for d in duplicates) + found.warnings)


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
