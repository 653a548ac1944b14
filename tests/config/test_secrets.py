"""Secrets: env > file > YAML precedence, unreadable files, and no secret ever shown anywhere."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from proxlb.config import LoadedConfig, check_config, load_config, redacted_dict
from proxlb.errors import ConfigError

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]

PASSWORD_AUTH = "proxmox_api:\n  hosts: [pve1]\n  user: proxlb@pve\n"
TOKEN_AUTH = "proxmox_api:\n  hosts: [pve1]\n  user: proxlb@pve\n  token_id: proxlb\n"
YAML_SECRET = "yaml-secret-Zq1"
FILE_SECRET = "file-secret-Xw2"
ENV_SECRET = "env-secret-Vb3"


def _password(loaded: LoadedConfig) -> str:
    secret = loaded.config.proxmox_api.password
    assert secret is not None
    return secret.get_secret_value()


def _token(loaded: LoadedConfig) -> str:
    secret = loaded.config.proxmox_api.token_secret
    assert secret is not None
    return secret.get_secret_value()


def test_password_from_yaml(load: Load) -> None:
    loaded = load(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n")
    assert _password(loaded) == YAML_SECRET and not loaded.config.proxmox_api.uses_token


def test_password_file_strips_trailing_newline(load: Load, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(FILE_SECRET + "\n", encoding="utf-8")
    loaded = load(PASSWORD_AUTH + f"  pass_file: {tmp_path / 'pw'}\n")
    assert _password(loaded) == FILE_SECRET
    assert loaded.config.proxmox_api.pass_file == str(tmp_path / "pw")


def test_relative_secret_file_is_next_to_the_config(load: Load, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(FILE_SECRET + "\r\n", encoding="utf-8")
    assert _token(load(TOKEN_AUTH + "  token_secret_file: token\n")) == FILE_SECRET


def test_file_beats_yaml_with_a_warning(load: Load, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(FILE_SECRET, encoding="utf-8")
    loaded = load(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n  pass_file: pw\n")
    assert _password(loaded) == FILE_SECRET
    assert "proxmox_api.pass is ignored because proxmox_api.pass_file is set" in loaded.warnings


def test_env_beats_file_and_yaml(load: Load, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(FILE_SECRET, encoding="utf-8")
    loaded = load(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n  pass_file: pw\n", {"PROXLB_PASS": ENV_SECRET})
    assert _password(loaded) == ENV_SECRET


def test_env_token_secret(load: Load) -> None:
    assert _token(load(TOKEN_AUTH, {"PROXLB_TOKEN_SECRET": ENV_SECRET})) == ENV_SECRET


def test_empty_env_counts_as_unset(load: Load) -> None:
    loaded = load(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n", {"PROXLB_PASS": ""})
    assert _password(loaded) == YAML_SECRET


def test_env_password_with_yaml_token_is_mutually_exclusive(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(MINIMAL, {"PROXLB_PASS": ENV_SECRET})
    [problem] = info.value.problems
    assert "environment variable PROXLB_PASS" in problem and "mutually exclusive" in problem


def test_env_is_process_environment_by_default(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROXLB_TOKEN_SECRET", ENV_SECRET)
    loaded = load_config(write_config(TOKEN_AUTH))
    assert _token(loaded) == ENV_SECRET


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_unreadable_or_empty_secret_file(load: Load, tmp_path: Path, content: str | None) -> None:
    secret_file = tmp_path / "pw"
    if content is not None:
        secret_file.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(PASSWORD_AUTH + f"  pass_file: {secret_file}\n")
    [problem] = info.value.problems
    assert problem.startswith("proxmox_api.pass_file:") and str(secret_file) in problem


def test_unreadable_secret_file_does_not_show_content(load: Load, tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_bytes(b"\xff\xfe" + FILE_SECRET.encode())
    with pytest.raises(ConfigError) as info:
        load(PASSWORD_AUTH + f"  pass_file: {secret_file}\n")
    assert FILE_SECRET not in str(info.value)


def test_world_readable_config_with_secret_is_warned(write_config: Callable[..., Path]) -> None:
    path = write_config(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n")
    path.chmod(0o644)
    loaded = load_config(path, {})
    assert any("readable by other users" in w for w in loaded.warnings)
    path.chmod(0o600)
    assert not any("readable by other users" in w for w in load_config(path, {}).warnings)


def test_numeric_secret_must_be_quoted_and_is_not_shown(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(PASSWORD_AUTH + "  pass: 918273645\n")
    assert "918273645" not in str(info.value)
    assert info.value.problems[0].startswith("proxmox_api.pass: ******** is not valid; expected a quoted")


def test_no_secret_leaks_anywhere(load: Load, write_config: Callable[..., Path], tmp_path: Path) -> None:
    token = "tok-" + "9f8e7d6c5b4a"
    password = "pw-" + "1a2b3c4d5e6f"
    # a valid token config: str, repr, dumps, redacted output, check result and warnings
    text = TOKEN_AUTH + f"  token_secret: {token}\n  tokn: x\nservice: {{lenient_config: true}}\n"
    loaded = load(text)
    config = loaded.config
    outputs = [
        str(config),
        repr(config),
        str(config.model_dump()),
        str(config.model_dump(by_alias=True)),
        config.model_dump_json(),
        json.dumps(redacted_dict(config)),
        " ".join(loaded.warnings),
        str(loaded),
    ]
    path = write_config(text, "check.yaml")
    result = check_config(path, {})
    assert result.ok and result.config is not None
    outputs.append(json.dumps(result.to_dict()))
    # an invalid config holding both secrets: the error, its problems and the check result
    bad = PASSWORD_AUTH + f"  pass: {password}\n  token_id: t\n  token_secret: {token}\n  timeout: x\n"
    with pytest.raises(ConfigError) as info:
        load(bad)
    outputs += [str(info.value), repr(info.value), *info.value.problems]
    bad_result = check_config(write_config(bad, "bad.yaml"), {})
    assert not bad_result.ok
    outputs.append(json.dumps(bad_result.to_dict()))
    # secrets from env and file
    (tmp_path / "pw").write_text(password, encoding="utf-8")
    from_file = load(PASSWORD_AUTH + "  pass_file: pw\n")
    from_env = load(TOKEN_AUTH, {"PROXLB_TOKEN_SECRET": token})
    for extra in (from_file, from_env):
        outputs += [str(extra), repr(extra.config), json.dumps(redacted_dict(extra.config))]
    for output in outputs:
        assert token not in output and password not in output
    assert redacted_dict(config)["proxmox_api"]["token_secret"] == "********"
    assert redacted_dict(config)["proxmox_api"]["pass"] is None
    assert redacted_dict(from_file.config)["proxmox_api"]["pass"] == "********"


def test_empty_token_secret_means_password_auth(load: Load) -> None:
    loaded = load(PASSWORD_AUTH + f"  pass: {YAML_SECRET}\n  token_secret: ''\n")
    assert loaded.config.proxmox_api.token_secret is None
    assert not loaded.config.proxmox_api.uses_token and _password(loaded) == YAML_SECRET


def test_empty_secrets_are_no_credentials(load: Load) -> None:
    with pytest.raises(ConfigError) as info:
        load(TOKEN_AUTH + "  token_secret: ''\n  pass: ''\n")
    assert any("no credentials" in p for p in info.value.problems)
