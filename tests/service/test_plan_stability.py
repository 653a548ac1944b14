"""Plans on noisy metrics agree between cycles (#11 defect 4): consecutive dry runs two virtual
minutes apart, with the simulator's noise and drift on, pick the same guests and targets."""

from __future__ import annotations

import pytest
from benchmarks.stability import measure

from proxlb_sim.generate import GenerateOptions, generate_scenario
from proxlb_sim.scenario import load_scenario, parse_scenario


@pytest.mark.parametrize("name", ["rules", "pve8", "ha-rules-pve9", "heterogeneous"])
def test_consecutive_dry_runs_agree_on_bundled_scenarios(name: str) -> None:
    result = measure(name, load_scenario(name))
    assert result.median >= 0.9, result
    assert all(result.moves), result  # each of these scenarios needs moves, so agreement is not vacuous


def test_consecutive_dry_runs_agree_on_a_generated_cluster() -> None:
    scn = parse_scenario(generate_scenario(GenerateOptions(nodes=6, guests=90, seed=3, skew=0.6)))
    result = measure("generated 6 × 90", scn)
    assert result.median >= 0.9, result
    assert all(result.moves), result
