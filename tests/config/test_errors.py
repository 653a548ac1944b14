"""A bad file fails with every problem at once, each naming key path, value and expectation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from proxlb.config import LoadedConfig, load_config
from proxlb.errors import ConfigError

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]


def _problems(load: Load, text: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert info.value.problems, "a ConfigError must list its problems"
    for problem in info.value.problems:
        assert problem in str(info.value)
        assert "errors.pydantic.dev" not in problem and "type=" not in problem
    return info.value.problems


def test_every_error_is_reported_at_once(load: Load) -> None:
    text = """\
proxmox_api:
  hosts: ['pve1', 'https://pve2:8006']
  user: proxlb@pve
  token_id: proxlb
  token_secret: abc
  timeout: soon
proxmox_cluster:
  maintenance_nodes_schedule: {duration: -2}
balancing:
  method: ram
  balanciness: lots
  balance_types: [vm, lxc]
  pools: {dev: {type: affinty}}
  node_resource_reserve: {defaults: {memory: -4}}
service:
  log_level: verbose
  schedule: {interval: 0, format: days}
solver:
  mode: passive
"""
    problems = _problems(load, text)
    expected_paths = [
        "proxmox_api.hosts[1]",
        "proxmox_api.timeout",
        "proxmox_cluster.maintenance_nodes_schedule.duration",
        "balancing.method",
        "balancing.balanciness",
        "balancing.balance_types[1]",
        "balancing.pools.dev.type",
        "balancing.node_resource_reserve.defaults.memory",
        "service.log_level",
        "service.schedule.interval",
        "service.schedule.format",
        "solver.mode",
    ]
    for path in expected_paths:
        assert any(p.startswith(path + ":") for p in problems), (path, problems)
    assert len(problems) == len(expected_paths)
    assert "balancing.method: 'ram' is not valid; expected one of memory, cpu, disk, combined" in problems
    expected = "balancing.balanciness: 'lots' is not valid; expected a whole number from 0 to 1000 (percent)"
    assert expected in problems
    assert "service.schedule.interval: 0 is not valid; expected a whole number from 1 to 525600" in problems


def test_type_errors_and_credential_errors_come_together(load: Load) -> None:
    text = """\
proxmox_api:
  hosts: []
  user: proxlb@pve
  token_id: proxlb@pve!proxlb
  token_secret: abc
  pass: secret
balancing: {balanciness: x}
"""
    problems = _problems(load, text)
    assert any(p.startswith("proxmox_api.hosts:") and "at least one" in p for p in problems)
    assert any(p.startswith("balancing.balanciness:") for p in problems)
    assert any("mutually exclusive" in p for p in problems)
    assert any(p.startswith("proxmox_api.token_id:") and "token name only" in p for p in problems)


@pytest.mark.parametrize(
    ("api", "fragment"),
    [
        ("user: u@pve", "no credentials"),
        ("user: u@pve\n  token_secret: abc", "proxmox_api.token_id: required"),
        ("user: u@pve\n  token_id: 'u@pve!t'\n  token_secret: abc", "token name only"),
        ("user: u@pve\n  pass: a\n  token_id: t\n  token_secret: b", "mutually exclusive"),
    ],
)
def test_credential_combinations(load: Load, api: str, fragment: str) -> None:
    problems = _problems(load, f"proxmox_api:\n  hosts: [pve1]\n  {api}\n")
    assert any(fragment in p for p in problems), problems


def test_missing_required_keys(load: Load) -> None:
    problems = _problems(load, "balancing: {enable: true}\n")
    assert problems == ("proxmox_api: required key is missing",)
    problems = _problems(load, "proxmox_api: {token_id: t, token_secret: s}\n")
    assert "proxmox_api.hosts: required key is missing" in problems
    assert "proxmox_api.user: required key is missing" in problems


def test_psi_needs_nodes_and_guests(load: Load) -> None:
    problems = _problems(load, MINIMAL + "balancing:\n  psi:\n    nodes: {}\n")
    assert problems == ("balancing.psi.guests: required key is missing",)


def test_psi_pressure_needs_all_three_values(load: Load) -> None:
    text = MINIMAL + "balancing:\n  psi: {nodes: {memory: {pressure_full: 1}}, guests: {ram: {}}}\n"
    problems = _problems(load, text)
    assert "balancing.psi.nodes.memory.pressure_some: required key is missing" in problems
    assert any(p.startswith("balancing.psi.guests.ram: key 'ram' is not valid") for p in problems)


def test_reserve_keys_are_checked(load: Load) -> None:
    problems = _problems(load, MINIMAL + "balancing:\n  node_resource_reserve: {pve1: {ram: 4}}\n")
    assert problems == (
        "unknown key 'balancing.node_resource_reserve.pve1.ram' is not allowed here; "
        "expected one of memory, cpu, disk",
    )


def test_combined_without_weights(load: Load) -> None:
    text = MINIMAL + "balancing: {method: combined, weights: {memory: 0, cpu: 0, disk: 0}}\n"
    problems = _problems(load, text)
    assert len(problems) == 1 and "needs at least one weight" in problems[0]


def test_plain_string_where_list_expected_in_lists_of_nodes(load: Load) -> None:
    problems = _problems(load, MINIMAL + "proxmox_cluster: {ignore_nodes: {a: 1}}\n")
    assert problems == ("proxmox_cluster.ignore_nodes: {'a': 1} is not valid; expected a list, e.g. [a, b]",)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(path) in str(info.value) and "does not exist" in str(info.value)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path, {})


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file(load: Load, text: str) -> None:
    problems = _problems(load, text)
    assert "empty" in problems[0]


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_not_a_mapping(load: Load, text: str) -> None:
    problems = _problems(load, text)
    assert "expected a mapping of sections" in problems[0]


def test_yaml_syntax_error_has_line_and_column(load: Load) -> None:
    text = "proxmox_api:\n  hosts: [pve1\n  user: x\n"
    problems = _problems(load, text)
    assert len(problems) == 1
    assert "YAML syntax error at line" in problems[0] and "column" in problems[0]


def test_yaml_syntax_error_does_not_echo_the_line(load: Load) -> None:
    text = 'proxmox_api:\n  hosts: [pve1]\n  user: u@pve\n  pass: "hunter2-unclosed\n'
    problems = _problems(load, text)
    assert "hunter2" not in " ".join(problems)


def test_duplicate_keys_are_warned(load: Load) -> None:
    text = MINIMAL + "balancing: {enable: true}\nbalancing: {balanciness: 3}\n"
    loaded = load(text)
    assert loaded.config.balancing.enable is False  # YAML: the last one wins
    assert any("duplicate key 'balancing' at line" in w for w in loaded.warnings)


def test_error_shows_the_value_as_written(load: Load) -> None:
    problems = _problems(load, MINIMAL + "service: {log_level: Verbose}\n")
    assert problems == (
        "service.log_level: 'Verbose' is not valid; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    )


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("proxmox_api: null\n", "proxmox_api: null is not valid; expected a mapping of key: value"),
        ("proxmox_api: [a]\n", "proxmox_api: ['a'] is not valid; expected a mapping of key: value"),
        (MINIMAL + "balancing: [a]\n", "balancing: ['a'] is not valid; expected a mapping of key: value"),
        (
            MINIMAL + "balancing: {pools: {dev: 3}}\n",
            "balancing.pools.dev: 3 is not valid; expected a mapping of key: value",
        ),
    ],
)
def test_sections_of_the_wrong_shape(load: Load, section: str, expected: str) -> None:
    assert _problems(load, section) == (expected,)


def test_comma_separated_hosts_are_rejected(load: Load) -> None:
    problems = _problems(load, MINIMAL.replace("['pve1.example.com']", "'pve1,pve2'"))
    assert len(problems) == 1 and problems[0].startswith("proxmox_api.hosts[0]: 'pve1,pve2' is not valid")
