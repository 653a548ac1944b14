"""Fuzz (hypothesis): random values under every config key, fed to `config check` and to the run.

For each generated file:
- `config check` and the run's loader (`load_config`) give the same verdict and the same problems;
- an invalid file makes the run exit 1 before touching the cluster;
- a valid file runs a whole dry-run cycle against the simulator without a traceback or an
  internal error (exit 70). The one verdict only the run can give is a `node_resource_reserve`
  not smaller than a node's real capacity (exit 1 with a line naming the node).

The CLI variant runs the real `proxlb config check` / `proxlb --once -d` processes on a few files.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from proxlb.api.settings import settings_from_config
from proxlb.config.check import check_config
from proxlb.config.load import load_config
from proxlb.config.model import ProxlbConfig
from proxlb.errors import ConfigError
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.state import StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import load_scenario
from proxlb_sim.testing import inprocess_client, proxlb_config_for, running_simulator
from tests.execute.fakes import FakeClock

pytestmark = pytest.mark.timeout(600)

BASE: dict[str, Any] = {
    "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
    "balancing": {"enable": True, "balance_types": ["vm", "ct"]},
    "service": {"daemon": False},
    # a window, so that duration / pre-migration reach the date arithmetic of every cycle
    "proxmox_cluster": {"maintenance_nodes_schedule": {"schedules": {"pve9": ["Monday, 8:00"]}}},
}


def _key_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every YAML key path of the schema (sections and leaves), in YAML spelling."""
    paths: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        key = (*prefix, field.alias or name)
        paths.append(key)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            paths += _key_paths(sub, key)
    return paths


KEY_PATHS: list[tuple[Any, ...]] = [
    *_key_paths(ProxlbConfig),
    ("balancing", "node_resource_reserve", "defaults", "memory"),
    ("balancing", "node_resource_reserve", "pve1", "cpu"),
    ("balancing", "psi", "nodes", "memory", "pressure_full"),
    ("balancing", "pools", "dev", "pin"),
    ("proxmox_cluster", "maintenance_nodes_schedule", "schedules", "pve1"),
    ("proxmox_api", "hosts", 0),
]

TOKEN = "5e1f2a3b-9c8d-4e7f-a6b5-c4d3e2f1a0b9"
HOSTILE_TEXT = st.sampled_from(
    [
        "10", "1e30", "-3", "0x10", "true", "yes", "null", "memory", "cpu", "combined", "hours", "minutes",
        "Monday, 8:00", "pve1", "PVE1", "a" * 5000, "x\x00y", "line\nbreak", "tab\t", " ", "", TOKEN,
        "http://pve1:8006", "[::1]:8006", "fe80::1%eth0", "pve1..lan", "x" * 70 + ".lan", "/dev/zero",
        "/nonexistent/ca.pem", "./relative", "🙂", "\u202e", "1:2:3",
    ]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.integers(-5, 5000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 200),
    st.text(max_size=12),
    HOSTILE_TEXT,
)
VALUES: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["memory", "cpu", "disk", "defaults", "pve1", "x"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)


def _defaults(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for name, field in model.model_fields.items():
        key = (*prefix, field.alias or name)
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out.update(_defaults(sub, key))
        elif not field.is_required():
            out[key] = field.get_default(call_default_factory=True)
    return out


DEFAULTS = _defaults(ProxlbConfig)


def _plausible(path: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    """Values of the key's own type, edges included: most files in the field look like this."""
    default = DEFAULTS.get(path)
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.one_of(st.integers(-2, 2 * max(default, 10)), st.sampled_from([0, 1, 100, 3600, 10**6]))
    if isinstance(default, float):
        return st.one_of(st.floats(0, 2 * max(default, 10)), st.sampled_from([0.0, 0.5, 100.0]))
    if hasattr(default, "value"):  # an enum: its spellings, and its neighbours' (mode vs method)
        return st.sampled_from([*(m.value for m in type(default)), "MEMORY", "Hours", "assigned", "psi"])
    return st.one_of(st.none(), st.text(max_size=8), HOSTILE_TEXT)


def _mutation(path: tuple[Any, ...]) -> st.SearchStrategy[tuple[tuple[Any, ...], Any]]:
    plausible = _plausible(path)
    return st.tuples(st.just(path), st.one_of(plausible, plausible, plausible, plausible, plausible, VALUES))


MUTATIONS = st.lists(st.sampled_from(KEY_PATHS).flatmap(_mutation), min_size=1, max_size=4)


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        if isinstance(node, dict):
            child = node.get(part)
            if not isinstance(child, (dict, list)):
                child = {}
                node[part] = child
            node = child
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    last = path[-1]
    if isinstance(node, dict) or (isinstance(node, list) and isinstance(last, int) and last < len(node)):
        node[last] = value


def _document(mutations: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(yaml.safe_dump(BASE))
    for path, value in mutations:
        _set(doc, path, value)
    return doc


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _run(path: Path) -> tuple[int, list[logging.LogRecord]]:
    """One dry-run cycle of the daemon on `path` against a fresh in-process simulator."""
    cluster = SimCluster.from_scenario(load_scenario("demo"), time_scale=0)
    api = InProcessApi(cluster)
    signals = DaemonSignals()

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        signals.request_stop()  # one cycle, also when the file says daemon: true
        return run_once(deps, apply)

    def connect(config: ProxlbConfig, stop: threading.Event) -> Any:
        settings_from_config(config.proxmox_api)  # what the real connect does first
        return inprocess_client(api)

    daemon = Daemon(
        path,
        signals=signals,
        clock=FakeClock(),
        apply=True,
        dry_run=True,
        connect=connect,
        open_state=lambda config, one_shot: StateStore.in_memory(),
        run_cycle=cycle,
        configure_log=False,
    )
    handler = _Records()
    root = logging.getLogger("proxlb")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        code = daemon.run()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert not api_writes(api), "a dry run sent a write request"
    return code, handler.records


def api_writes(api: InProcessApi) -> list[Any]:
    return [c for c in api.calls if c[0] != "GET"]


def _assert_same_verdict(path: Path) -> tuple[bool, tuple[str, ...]]:
    checked = check_config(path, {})
    try:
        load_config(path, {})
    except ConfigError as exc:
        assert not checked.ok, f"the run refused what config check accepted: {exc.problems}"
        assert exc.problems == checked.problems
    else:
        assert checked.ok, f"config check refused what the run accepts: {checked.problems}"
    for line in checked.problems + checked.warnings:
        assert "\n" not in line and TOKEN not in line and "Traceback" not in line, line
    return checked.ok, checked.problems


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=MUTATIONS)
def test_random_values_same_verdict_and_no_traceback(
    tmp_path_factory: pytest.TempPathFactory, mutations: Any
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "proxlb.yaml"
    path.write_text(yaml.safe_dump(_document(mutations), allow_unicode=True))
    path.chmod(0o600)
    ok, _ = _assert_same_verdict(path)
    event("valid" if ok else "invalid")
    code, records = _run(path)
    tracebacks = [r for r in records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]
    if not ok:
        assert code == 1
        return
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    if code == 1:  # the only verdict the run alone can give: a reserve larger than a real node
        assert errors and all("node_resource_reserve" in e for e in errors), errors
    else:
        assert code == 0, (code, errors)


RAW_SNIPPETS = st.sampled_from(
    [
        "x: " + "[" * 60 + "]" * 60,
        "x: &a [1, *a]",
        "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
        "x: 2026-13-45",
        "x: " + "7" * 5000,
        "x: !!python/object:os.system ls",
        "x: !!binary '%%%'",
        "? [a, b]\n: 1",
        "x: \x00",
        "x: '\x1b[31m'",
        "\t- tabbed",
        "proxmox_api: *undefined",
        "%YAML 9.9\n---\nx: 1",
        "---\nx: 1\n---\ny: 2",
    ]
)


@settings(max_examples=40, deadline=None)
@given(snippet=RAW_SNIPPETS, mutations=st.lists(st.tuples(st.sampled_from(KEY_PATHS), VALUES), max_size=2))
def test_hostile_yaml_text_same_verdict(
    tmp_path_factory: pytest.TempPathFactory, snippet: str, mutations: Any
) -> None:
    path = tmp_path_factory.mktemp("fuzzraw") / "proxlb.yaml"
    path.write_text(yaml.safe_dump(_document(mutations)) + snippet + "\n")
    ok, _ = _assert_same_verdict(path)
    event("valid" if ok else "invalid")
    if not ok:
        code, records = _run(path)
        assert code == 1 and not [r for r in records if r.exc_info]


CLI_DOCS = st.lists(st.sampled_from(KEY_PATHS).flatmap(_mutation), min_size=1, max_size=3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=CLI_DOCS)
def test_cli_config_check_and_run_agree(tmp_path_factory: pytest.TempPathFactory, mutations: Any) -> None:
    tmp = tmp_path_factory.mktemp("fuzzcli")
    with running_simulator("demo", time_scale=200.0) as sim:
        doc = proxlb_config_for(sim, tmp / "state")
        for key_path, value in mutations:
            # credentials and endpoints stay those of the simulator: a wrong one is an API verdict
            if key_path[0] != "proxmox_api" or key_path[-1] in ("timeout", "retries", "wait_time"):
                _set(doc, key_path, value)
        path = tmp / "proxlb.yaml"
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
        path.chmod(0o600)
        check = _proxlb(tmp, "config", "check", "-c", str(path))
        run = _proxlb(tmp, "--once", "-d", "-c", str(path))
    for proc in (check, run):
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        assert proc.returncode != 70, proc.stderr
        assert sim.token_secret not in proc.stdout + proc.stderr
    if check.returncode == 1:
        assert run.returncode == 1 and "invalid configuration" in run.stderr
        problems = [
            line.removeprefix("error: ") for line in check.stdout.splitlines() if line.startswith("error: ")
        ]
        assert problems and all(p in run.stderr for p in problems)
    else:
        assert check.returncode == 0
        assert run.returncode == 0 or (run.returncode == 1 and "node_resource_reserve" in run.stderr), (
            run.stderr
        )


def _proxlb(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """In `cwd`, so a relative state_dir the fuzzer wrote lands in the test's directory."""
    return subprocess.run(
        [sys.executable, "-m", "proxlb", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
