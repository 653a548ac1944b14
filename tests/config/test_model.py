"""Every section and default of the models, upstream's example config, aliases and coercion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from proxlb.config import ApiEndpoint, LoadedConfig, ProxlbConfig
from proxlb.config.enums import (
    AffinityType,
    BalanceMethod,
    BalanceMode,
    GuestType,
    LogFormat,
    LogLevel,
    Resource,
    SolverMode,
    TimeFormat,
)
from proxlb.domain import GIB, Resources

from .conftest import FIXTURES, MINIMAL

Load = Callable[..., LoadedConfig]


def test_defaults_match_upstream_2_3_0(load: Load) -> None:
    loaded = load(MINIMAL)
    c = loaded.config
    api = c.proxmox_api
    assert (api.ssl_verification, api.timeout, api.retries, api.wait_time) == (True, 1, 1, 1)
    assert api.password is None
    assert (api.ca_file, api.pass_file, api.token_secret_file) == (None, None, None)
    cl = c.proxmox_cluster
    assert (cl.maintenance_nodes, cl.ignore_nodes, cl.overprovisioning) == ((), (), False)
    sched = cl.maintenance_nodes_schedule
    assert (sched.duration, sched.pre_migration, sched.schedules) == (0, 0, {})
    b = c.balancing
    assert b.enable is False and b.enforce_affinity is False and b.enforce_pinning is False
    assert b.parallel is False and b.parallel_jobs == 5
    assert b.live and b.with_local_disks and b.with_conntrack_state
    assert b.balance_types == ()
    assert b.max_job_validation == 1800
    assert b.balanciness == 10
    assert (b.memory_threshold, b.cpu_threshold, b.disk_threshold) == (None, None, None)
    assert b.method is BalanceMethod.MEMORY and b.mode is BalanceMode.USED
    assert b.balance_larger_guests_first is False
    assert (b.node_resource_reserve, b.psi, b.pools) == (None, None, None)
    assert b.ignore_guests == ()
    # unset unless written: upstream's 2.0 applies to its solver only (planning.policy._cpu_cap)
    assert b.cpu_overcommit is None and b.max_node_inflow == 1
    s = c.service
    assert s.daemon is True and s.enable_ha is False and s.log_level is LogLevel.INFO
    assert (s.schedule.interval, s.schedule.format, s.schedule.seconds) == (12, TimeFormat.HOURS, 43200)
    assert (s.delay.enable, s.delay.time, s.delay.format, s.delay.seconds) == (False, 1, TimeFormat.HOURS, 0)
    so = c.solver
    assert so.enable is False and so.mode is SolverMode.SHADOW
    assert so.log_dir == "/var/log/proxlb/solver" and so.timeout_seconds == 30.0
    assert so.use_reservations and so.active_step_retries == 3 and so.fallback_to_greedy
    assert loaded.warnings == ()


def test_extension_defaults(load: Load) -> None:
    c = load(MINIMAL).config
    b = c.balancing
    assert (b.weights.memory, b.weights.cpu, b.weights.disk) == (1.0, 1.0, 0.0)
    assert b.min_improvement == 1.0 and b.cost_per_gib == 0.05
    assert b.max_migrations is None and b.cooldown_minutes == 360 and b.max_node_outflow == 4
    s = c.service
    assert s.state_dir == "/var/lib/proxlb" and s.log_format is LogFormat.AUTO
    assert s.ha_identity is None and s.stop_timeout == 120


def test_upstream_example_loads_unchanged(load: Load) -> None:
    loaded = load((FIXTURES / "upstream_example.yaml").read_text(encoding="utf-8"))
    c = loaded.config
    assert c.proxmox_api.user == "root@pam"
    assert c.proxmox_api.password is not None
    assert c.proxmox_api.password.get_secret_value() == "crazyPassw0rd!"
    assert c.proxmox_api.timeout == 10
    assert c.proxmox_api.endpoints() == (
        ApiEndpoint("virt01.example.com", 8006),
        ApiEndpoint("10.10.10.10", 8006),
        ApiEndpoint("fe01::bad:code::cafe", 8006),
        ApiEndpoint("virt01.example.com", 443),
        ApiEndpoint("fc00::1", 8006),
        ApiEndpoint("fc00::1", 443),
        ApiEndpoint("fc00::1", 8006),
    )
    sched = c.proxmox_cluster.maintenance_nodes_schedule
    assert (sched.duration, sched.pre_migration) == (2, 30)
    assert sched.schedules == {"virt77.example.com": ("Monday, 8:00", "saturday, 23:30")}
    b = c.balancing
    assert b.enable and b.balance_types == (GuestType.VM, GuestType.CT)
    assert (b.memory_threshold, b.cpu_threshold, b.disk_threshold, b.balanciness) == (75, 75, 75, 5)
    assert b.psi is not None and set(b.psi.nodes) == set(Resource) and set(b.psi.guests) == set(Resource)
    assert b.psi.nodes[Resource.MEMORY].pressure_spikes == 1.0
    assert b.pools is not None
    assert b.pools["dev"].type is AffinityType.AFFINITY and b.pools["dev"].strict is True
    assert b.pools["de-nbg01-db"].pin == ("virt66", "virt77") and b.pools["de-nbg01-db"].strict is False
    assert b.reserve_for("node01") == Resources(mem_bytes=6 * GIB)
    assert b.reserve_for("other") == Resources(mem_bytes=4 * GIB)
    assert c.solver.timeout_seconds == 30.0
    # the only warning is about upstream's own invalid IPv6 example
    assert len(loaded.warnings) == 1 and "fe01::bad:code::cafe" in loaded.warnings[0]


def test_upstream_minimal_config_from_reference(load: Load) -> None:
    text = (
        "proxmox_api: {hosts: ['127.0.0.1:8006'], user: proxlb@pve, token_id: proxlb, "
        "token_secret: 00000000-0000-0000-0000-000000000000, ssl_verification: false, timeout: 10}\n"
        "balancing: {enable: true, balance_types: ['vm', 'ct']}\n"
        "service: {daemon: false}\n"
    )
    c = load(text).config
    assert c.proxmox_api.uses_token and c.proxmox_api.endpoints() == (ApiEndpoint("127.0.0.1", 8006),)
    assert c.service.daemon is False and c.balancing.enable


def test_lax_coercion_like_upstream(load: Load) -> None:
    text = MINIMAL + (
        "balancing:\n  balanciness: '7'\n  enable: 'yes'\n  live: 'off'\n  memory_threshold: 80.0\n"
        "  parallel_jobs: '3'\n  cpu_overcommit: '1.5'\n"
    )
    b = load(text).config.balancing
    assert (b.balanciness, b.enable, b.live, b.memory_threshold, b.parallel_jobs) == (7, True, False, 80, 3)
    assert b.cpu_overcommit == 1.5


def test_enum_values_are_case_insensitive(load: Load) -> None:
    text = MINIMAL + "balancing: {method: CPU, mode: Assigned}\nservice: {log_level: debug}\n"
    c = load(text).config
    assert c.balancing.method is BalanceMethod.CPU and c.balancing.mode is BalanceMode.ASSIGNED
    assert c.service.log_level is LogLevel.DEBUG


def test_yaml_spellings_and_python_names() -> None:
    yaml_style = {"hosts": ["a"], "user": "u@pve", "pass": "x"}
    c = ProxlbConfig.model_validate(
        {
            "proxmox_api": yaml_style,
            "proxmox_cluster": {"maintenance_nodes_schedule": {"pre-migration": 15}},
        }
    )
    assert c.proxmox_api.password is not None and c.proxmox_api.password.get_secret_value() == "x"
    assert c.proxmox_cluster.maintenance_nodes_schedule.pre_migration == 15
    dumped = c.model_dump(by_alias=True)
    assert "pass" in dumped["proxmox_api"] and "pre-migration" in str(dumped)


def test_models_are_frozen(load: Load) -> None:
    c = load(MINIMAL).config
    with pytest.raises(ValidationError):
        c.balancing.enable = True


def test_empty_sections_mean_defaults(load: Load) -> None:
    c = load(MINIMAL + "balancing:\nservice:\nproxmox_cluster:\n  maintenance_nodes_schedule:\n").config
    assert c.balancing.balanciness == 10 and c.service.daemon is True


def test_single_string_where_a_list_is_expected(load: Load) -> None:
    text = MINIMAL.replace("['pve1.example.com']", "pve1.example.com")
    text += (
        "proxmox_cluster:\n  maintenance_nodes_schedule: {duration: 1, schedules: {pve1: 'Monday, 8:00'}}\n"
    )
    text += "  maintenance_nodes: pve3\n  ignore_nodes: pve4\n"
    text += "balancing: {balance_types: vm, ignore_guests: db1}\n"
    c = load(text).config
    assert c.proxmox_cluster.maintenance_nodes == ("pve3",) and c.proxmox_cluster.ignore_nodes == ("pve4",)
    assert c.balancing.balance_types == (GuestType.VM,) and c.balancing.ignore_guests == ("db1",)
    assert c.proxmox_api.hosts == ("pve1.example.com",)
    assert c.proxmox_cluster.maintenance_nodes_schedule.schedules == {"pve1": ("Monday, 8:00",)}


def test_numeric_node_and_pool_names_become_text(load: Load) -> None:
    text = (
        MINIMAL + "balancing:\n  node_resource_reserve: {101: {memory: 2}}\n  pools: {42: {type: affinity}}\n"
    )
    b = load(text).config.balancing
    assert b.reserve_for("101") == Resources(mem_bytes=2 * GIB)
    assert b.pools is not None and "42" in b.pools


def test_reserve_node_entry_overrides_defaults_per_resource(load: Load) -> None:
    text = MINIMAL + (
        "balancing:\n  node_resource_reserve:\n    defaults: {memory: 4, cpu: 1, disk: 10}\n"
        "    pve1: {memory: 0.5, cpu: 0}\n"
    )
    b = load(text).config.balancing
    assert b.reserve_for("pve1") == Resources(cpu_milli=0, mem_bytes=GIB // 2, disk_bytes=10 * GIB)
    assert b.reserve_for("pve2") == Resources(cpu_milli=1000, mem_bytes=4 * GIB, disk_bytes=10 * GIB)


def test_no_reserve_is_zero(load: Load) -> None:
    assert load(MINIMAL).config.balancing.reserve_for("pve1") == Resources()


def test_combined_method_and_weights(load: Load) -> None:
    text = MINIMAL + "balancing: {method: combined, weights: {memory: 2, cpu: 1, disk: 0.5}}\n"
    b = load(text).config.balancing
    assert b.method is BalanceMethod.COMBINED
    assert (b.weights.get(Resource.MEMORY), b.weights.get(Resource.DISK)) == (2.0, 0.5)


def test_threshold_accessor_and_parallel_jobs(load: Load) -> None:
    b = load(MINIMAL + "balancing: {cpu_threshold: 60, parallel: true, parallel_jobs: 0}\n").config.balancing
    assert b.threshold(Resource.CPU) == 60 and b.threshold(Resource.MEMORY) is None
    assert b.effective_parallel_jobs == 1
    assert load(MINIMAL).config.balancing.effective_parallel_jobs == 1


def test_service_extensions_and_delay_seconds(load: Load) -> None:
    text = MINIMAL + (
        "service:\n  delay: {enable: true, time: 5, format: minutes}\n"
        "  schedule: {interval: 30, format: minutes}\n"
        "  state_dir: /tmp/plb\n  log_format: json\n  ha_identity: pve2\n  stop_timeout: 30\n"
    )
    s = load(text).config.service
    assert s.delay.seconds == 300 and s.schedule.seconds == 1800
    assert (s.state_dir, s.log_format, s.ha_identity, s.stop_timeout) == (
        "/tmp/plb",
        LogFormat.JSON,
        "pve2",
        30,
    )


def test_solver_section(load: Load) -> None:
    text = MINIMAL + "solver: {enable: true, mode: active, timeout_seconds: 5, fallback_to_greedy: false}\n"
    so = load(text).config.solver
    assert so.enable and so.mode is SolverMode.ACTIVE and so.timeout_seconds == 5.0
    assert so.fallback_to_greedy is False


def test_psi_thresholds_alias_is_deprecated_but_read(load: Load) -> None:
    pressure = "{pressure_full: 0.1, pressure_some: 0.2, pressure_spikes: 0.3}"
    text = (
        MINIMAL
        + "balancing:\n  psi_thresholds:\n"
        + f"    nodes: {{memory: {pressure}}}\n    guests: {{cpu: {pressure}}}\n"
    )
    loaded = load(text)
    psi = loaded.config.balancing.psi
    assert psi is not None and psi.nodes[Resource.MEMORY].pressure_some == 0.2
    assert any("psi_thresholds" in w and "deprecated" in w for w in loaded.warnings)


def test_psi_thresholds_ignored_when_psi_is_set(load: Load) -> None:
    pressure = "{pressure_full: 0.1, pressure_some: 0.2, pressure_spikes: 0.3}"
    text = MINIMAL + (
        f"balancing:\n  psi: {{nodes: {{memory: {pressure}}}, guests: {{}}}}\n"
        f"  psi_thresholds: {{nodes: {{cpu: {pressure}}}, guests: {{}}}}\n"
    )
    loaded = load(text)
    assert loaded.config.balancing.psi is not None
    assert set(loaded.config.balancing.psi.nodes) == {Resource.MEMORY}
    assert any("psi_thresholds" in w and "ignored" in w for w in loaded.warnings)


def test_default_path_is_upstreams() -> None:
    from proxlb.config import DEFAULT_CONFIG_PATH

    assert Path("/etc/proxlb/proxlb.yaml") == DEFAULT_CONFIG_PATH
