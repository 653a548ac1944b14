"""State is scoped per cluster: one state_dir shared by two clusters whose VMIDs overlap (issue #11,
defect 1), and schema 1 databases migrated in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from proxlb.domain import ClusterSnapshot, Decision, Node, Resources, VmId
from proxlb.execute.model import Outcome
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.state import DB_NAME, SCHEMA_VERSION, StateStore
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import Scenario, load_scenario
from tests.service.simhelp import SimClock, client_for, config


def cooling(decision: Decision) -> bool:
    """The plan holds this guest back for its cooldown (a typed cause, not a sentence)."""
    return decision.cause is not None and decision.cause.name == "cooldown_minutes"


def demo_cluster(name: str, seed: int) -> SimCluster:
    scn = load_scenario("demo")
    # a fixed start: both rehearsal clusters read the same metrics at the same virtual instant
    settings = scn.sim.model_copy(update={"cluster_name": name, "seed": seed, "start_time": 1_790_000_000.0})
    return SimCluster.from_scenario(
        Scenario.model_validate({**scn.model_dump(), "sim": settings}), time_scale=0
    )


def cycle(cluster: SimCluster, state_dir: Path, apply: bool) -> RunReport:
    state = StateStore.open(state_dir)
    try:
        deps = PipelineDeps(
            config(), client_for(InProcessApi(cluster)), state, SimClock(cluster), dry_run=not apply
        )
        return run_once(deps, apply=apply)
    finally:
        state.close()


def test_second_cluster_with_same_vmids_sees_no_cooldowns_or_cpu_samples_of_the_first(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    first = cycle(demo_cluster("production", seed=7), shared, apply=True)
    assert first.execution is not None
    moved = {o.vmid for o in first.execution.outcomes if o.outcome is Outcome.DONE}
    assert moved, "the first cluster should have balanced"

    rehearsal_shared = cycle(demo_cluster("rehearsal", seed=99), shared, apply=False)
    rehearsal_fresh = cycle(demo_cluster("rehearsal", seed=99), tmp_path / "fresh", apply=False)
    assert rehearsal_shared.plan is not None and rehearsal_fresh.plan is not None
    cooled = {v: d for v, d in rehearsal_shared.plan.decisions.items() if cooling(d)}
    assert cooled == {}, f"guests of another cluster are in cooldown: {cooled}"
    assert rehearsal_shared.snapshot is not None and rehearsal_fresh.snapshot is not None
    cpu_shared = {g.vmid: g.usage.cpu_milli for g in rehearsal_shared.snapshot.guests}
    cpu_fresh = {g.vmid: g.usage.cpu_milli for g in rehearsal_fresh.snapshot.guests}
    assert cpu_shared == cpu_fresh  # no smoothing against the other cluster's samples
    assert rehearsal_shared.plan.migrations == rehearsal_fresh.plan.migrations

    # and the first cluster still remembers its own moves
    again = cycle(demo_cluster("production", seed=7), shared, apply=False)
    assert again.plan is not None
    assert any(cooling(again.plan.decisions[v]) for v in moved)


def test_identity_is_cluster_name_or_node_set() -> None:
    nodes = (
        Node("b", True, Resources(1000, 1, 0), Resources()),
        Node("a", True, Resources(1000, 1, 0), Resources()),
    )
    assert ClusterSnapshot(0.0, nodes, (), cluster_name="lab").identity == "cluster:lab"
    assert ClusterSnapshot(0.0, nodes, ()).identity == "nodes:a,b"


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, vmid INTEGER NOT NULL, name TEXT NOT NULL,
    kind TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, started REAL,
    finished REAL NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', upid TEXT);
CREATE INDEX migrations_vmid_finished ON migrations (vmid, finished);
CREATE TABLE cpu_samples (vmid INTEGER PRIMARY KEY, cpu_milli REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL NOT NULL,
    summary TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO migrations (vmid, name, kind, source, target, reason, started, finished, outcome)
    VALUES (100, 'web01', 'qemu', 'pve1', 'pve2', 'balance', 90.0, 100.0, 'done');
INSERT INTO cpu_samples VALUES (100, 750.0, 100.0);
INSERT INTO runs (started, finished, summary) VALUES (1.0, 2.0, '{"planned": 1}');
"""


def test_schema_1_database_is_migrated_in_place_and_adopted_by_the_first_cluster(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(V1_SCHEMA)
    conn.close()
    store = StateStore.open(tmp_path)
    assert store.schema_version == SCHEMA_VERSION == 2
    store.bind("cluster:prod")
    assert store.recent_moves(since=0) == {VmId(100): 100.0}
    assert store.cpu_history() == {VmId(100): 750.0}
    assert store.last_run() == {"started": 1.0, "finished": 2.0, "planned": 1}
    store.close()
    other = StateStore.open(tmp_path, cluster="cluster:sim")
    assert other.recent_moves(since=0) == {} and other.cpu_history() == {} and other.last_run() is None
    other.record_cpu({VmId(100): 10.0}, now=200.0)
    other.close()
    prod = StateStore.open(tmp_path, cluster="cluster:prod")
    assert prod.cpu_history() == {VmId(100): 750.0} and len(prod.history()) == 1
    prod.close()
