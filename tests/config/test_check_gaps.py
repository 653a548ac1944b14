"""Issue #19 item 8, the configuration part: what `config check` let through or refused wrongly.

YAML merge keys (`<<: *base`, accepted by upstream's PyYAML) were refused; an empty CA directory
and `state_dir: ''` passed the check and failed only at run time; turning every anti-ping-pong
guard down together passed without a word. Checked through `config check` as a user runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from proxlb.config.check import check_config
from tests.config.conftest import MINIMAL

Write = Callable[..., Path]


def test_yaml_merge_keys_are_accepted(write_config: Write) -> None:
    text = (
        MINIMAL
        + "balancing:\n  <<: {enable: true, balanciness: 5, method: cpu}\n  method: memory\n"
        + "service: &svc\n  daemon: false\n"
    )
    result = check_config(write_config(text))
    assert result.ok, result.problems
    assert result.config is not None
    balancing = dict(result.config)["balancing"]
    assert balancing["balanciness"] == 5 and balancing["method"] == "memory"  # explicit keys win
    assert not any("duplicate" in w for w in result.warnings)


def test_empty_state_dir_is_refused(write_config: Write) -> None:
    result = check_config(write_config(MINIMAL + "service: {state_dir: ''}\n"))
    assert not result.ok and any("service.state_dir" in p for p in result.problems), result.problems


def test_a_ca_directory_without_certificates_is_refused(write_config: Write, tmp_path: Path) -> None:
    empty = tmp_path / "ca"
    empty.mkdir()
    result = check_config(write_config(MINIMAL + f"  ca_file: {empty}\n"))
    assert not result.ok and any("without hashed certificates" in p for p in result.problems), result.problems


def test_every_ping_pong_guard_turned_down_is_warned_about(write_config: Write) -> None:
    off = "balancing: {cooldown_minutes: 0, return_window_cycles: 0, plan_margin: 0, min_improvement: 0.1}\n"
    result = check_config(write_config(MINIMAL + off))
    assert result.ok and any("ping-pong" in w for w in result.warnings), result.warnings
    one_kept = off.replace("cooldown_minutes: 0", "cooldown_minutes: 30")
    assert not any("ping-pong" in w for w in check_config(write_config(MINIMAL + one_kept)).warnings)
