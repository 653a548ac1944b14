"""A rehearsal never writes production's rows (#15 item 7): `proxlb snapshot` gives the simulated
cluster a name of its own, so applying a plan against `proxlb-sim` with the state_dir production uses
leaves production's next plan unchanged (measured before: 7 moves became 9, 4 guests "in cooldown")."""

from __future__ import annotations

from pathlib import Path

import yaml

from proxlb_sim.scenario import load_scenario
from proxlb_sim.testing import SimInfo, proxlb_config_for, running_simulator
from tests.e2e.conftest import json_out, run_cli


def _config(path: Path, sim: SimInfo, state: Path) -> Path:
    path.write_text(yaml.safe_dump(proxlb_config_for(sim, state)))
    path.chmod(0o600)
    return path


def _moves(cfg: Path) -> list[tuple[int, str]]:
    doc = json_out(run_cli("-c", str(cfg), "-d", "-j"))
    return sorted((int(m["vmid"]), str(m["target"])) for m in doc["plan"]["migrations"])


def test_rehearsal_apply_leaves_production_plan_unchanged(tmp_path: Path) -> None:
    state = tmp_path / "state"  # shared by production and the rehearsal, as an admin may do
    with running_simulator("demo", time_scale=0.0) as production:
        prod_cfg = _config(tmp_path / "prod.yaml", production, state)
        before = _moves(prod_cfg)
        assert before, "the demo cluster needs balancing"
        dump = tmp_path / "snap.yaml"
        assert run_cli("-c", str(prod_cfg), "snapshot", "-o", str(dump)).returncode == 0
        scenario = load_scenario(dump)
        assert scenario.sim.cluster_name != "demo"
        scenario = scenario.model_copy(update={"sim": scenario.sim.model_copy(update={"noise": 0.0})})
        with running_simulator(scenario, time_scale=500.0) as rehearsal:
            reh_cfg = _config(tmp_path / "rehearsal.yaml", rehearsal, state)
            applied = run_cli("-c", str(reh_cfg), "--once", "-j", timeout=300)
            assert applied.returncode == 0, applied.stderr
            assert rehearsal.admin.writes(), "the rehearsal must really migrate"
        assert _moves(prod_cfg) == before
