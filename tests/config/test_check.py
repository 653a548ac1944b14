"""`check_config` (for `proxlb config check`) and load-time advice warnings."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from proxlb.config import LoadedConfig, check_config

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]


def test_ok_result_has_redacted_config(write_config: Callable[..., Path]) -> None:
    path = write_config(MINIMAL + "balancing: {balanciness_: 1}\n")
    result = check_config(path, {}, lenient=True)
    assert result.ok and result.problems == () and result.path == str(path)
    assert result.warnings == (
        "unknown key 'balancing.balanciness_' ignored — did you mean 'balancing.balanciness'?",
    )
    assert result.config is not None
    assert result.config["proxmox_api"]["token_secret"] == "********"
    assert result.config["proxmox_cluster"]["maintenance_nodes_schedule"]["pre-migration"] == 0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ok"] is True and data["config"]["balancing"]["method"] == "memory"


def test_failed_result_lists_problems_and_warnings(write_config: Callable[..., Path]) -> None:
    path = write_config(MINIMAL + "balancing: {method: ram, balanciness_: 1}\n")
    result = check_config(path, {}, lenient=True)
    assert not result.ok and result.config is None
    assert result.problems == (
        "balancing.method: 'ram' is not valid; expected one of memory, cpu, disk, combined",
    )
    assert len(result.warnings) == 1


def test_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    result = check_config(tmp_path / "missing.yaml", {})
    assert not result.ok and "does not exist" in result.problems[0]


def test_yaml_error_is_a_problem(write_config: Callable[..., Path]) -> None:
    result = check_config(write_config("a: [\n"), {})
    assert not result.ok and "line" in result.problems[0]


def test_advice_warnings(load: Load) -> None:
    text = MINIMAL.replace("['pve1.example.com']", "['pve1.example.com', 'fe01::bad:code::cafe']") + (
        "  ssl_verification: false\n  ca_file: /etc/ca.pem\n"
        "proxmox_cluster: {maintenance_nodes: [pve3], ignore_nodes: [pve3]}\n"
        "balancing:\n  enable: true\n  parallel: true\n  parallel_jobs: 0\n  memory_threshold: 120\n"
        "  weights: {memory: 2}\n  node_resource_reserve: {default: {memory: 1}}\n"
        "  pools: {p: {strict: true}}\n"
    )
    warnings = load(text).warnings
    fragments = [
        "proxmox_api.hosts[1]",
        "ca_file is ignored",
        "ignored nodes are not drained",
        "balance_types is empty",
        "parallel_jobs: 0 is below 1",
        "memory_threshold: 120",
        "weights only apply",
        "did you mean 'defaults'",
        "balancing.pools.p: neither type nor pin",
    ]
    for fragment in fragments:
        assert any(fragment in w for w in warnings), (fragment, warnings)
    assert len(warnings) == len(fragments)


def test_user_without_realm_and_unused_token_id_are_warned(load: Load) -> None:
    loaded = load("proxmox_api: {hosts: [pve1], user: root, pass: 'x', token_id: t}\n")
    assert any("has no realm" in w for w in loaded.warnings)
    assert any("token_id is ignored" in w for w in loaded.warnings)


def test_packaged_example_loads_without_warnings(write_config: Callable[..., Path], tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "packaging" / "proxlb.example.yaml"
    (tmp_path / "token_secret").write_text("00000000-0000-0000-0000-000000000000\n", encoding="utf-8")
    text = example.read_text(encoding="utf-8").replace("/etc/proxlb/token_secret", "token_secret")
    result = check_config(write_config(text), {})
    assert result.ok, result.problems
    assert result.warnings == ()
    assert result.config is not None and result.config["proxmox_api"]["token_secret"] == "********"


def test_unknown_keys_are_problems_unless_lenient(write_config: Callable[..., Path]) -> None:
    # #20 item 5: `servce:` turned a one-shot run into a daemon, `ssl_verfication: false` was ignored
    path = write_config(MINIMAL + "servce: {daemon: false}\n")
    strict = check_config(path, {})
    assert not strict.ok and strict.config is None
    [problem] = strict.problems
    assert problem.startswith("unknown key 'servce' refused — did you mean 'service'?")
    assert "service.lenient_config: true" in problem and "--lenient" in problem
    lenient = check_config(path, {}, lenient=True)
    assert lenient.ok and lenient.warnings == ("unknown key 'servce' ignored — did you mean 'service'?",)
    by_option = write_config(MINIMAL + "servce: {daemon: false}\nservice: {lenient_config: true}\n")
    assert check_config(by_option, {}).ok
