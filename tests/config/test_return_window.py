"""`balancing.return_window_cycles`: how far back the no-return rule looks (default 48 cycles, or
2 × cooldown when that reaches further; 0 = 2 × cooldown only). Config loading through the
history window the service hands to the planner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from proxlb.config import LoadedConfig, load_config
from proxlb.domain import GuestKind, VmId
from proxlb.errors import ConfigError
from proxlb.execute.model import MigrationOutcome, Outcome
from proxlb.service.history import recently_left
from proxlb.service.state import StateStore

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]
NOW = 10_500.0


def _config(load: Load, **balancing: object) -> LoadedConfig:
    lines = "".join(f"  {k}: {v}\n" for k, v in balancing.items())
    return load(MINIMAL + ("balancing:\n" + lines if lines else ""))


def _store(tmp_path: Path) -> StateStore:
    """Ten runs at 1000, 2000, … 10000; guest 100 left pve1 at 3500, guest 101 left pve2 at 9500."""
    store = StateStore.open(tmp_path / "state", cluster="cluster:a")
    for i in range(1, 11):
        store.record_run({"planned": 0}, float(1000 * i), float(1000 * i + 10))
    for vmid, src, dst, finished in ((100, "pve1", "pve3", 3500.0), (101, "pve2", "pve3", 9500.0)):
        move = MigrationOutcome(
            vmid=VmId(vmid),
            name=f"g{vmid}",
            kind=GuestKind.QEMU,
            source=src,
            target=dst,
            reason="balance",
            outcome=Outcome.DONE,
            started_at=finished - 5,
            seconds=5.0,
        )
        store.record_migrations([move], finished=finished)
    return store


def _window(store: StateStore, load: Load, **balancing: object) -> dict[VmId, frozenset[str]]:
    bal = _config(load, **balancing).config.balancing
    return recently_left(store, NOW, bal.cooldown_minutes, bal.return_window_cycles)


def test_default_is_48_cycles(load: Load) -> None:
    assert _config(load).config.balancing.return_window_cycles == 48


@pytest.mark.parametrize("bad", ["-1", "10001", "lots", "2.5", "true"])
def test_out_of_range_or_not_a_whole_number_is_one_clear_line(load: Load, bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        _config(load, return_window_cycles=bad)
    (problem,) = info.value.problems
    assert problem.startswith("balancing.return_window_cycles: ")
    assert "expected a whole number from 0 to 10000 (cycles)" in problem


def test_window_follows_the_configured_cycles(tmp_path: Path, load: Load) -> None:
    store = _store(tmp_path)
    both = {VmId(100): frozenset({"pve1"}), VmId(101): frozenset({"pve2"})}
    try:
        # default 48: fewer runs than that recorded, so all history counts
        assert _window(store, load, cooldown_minutes=0) == both
        # 3 cycles: since the 3rd most recent run (8000) → only 101's departure
        assert _window(store, load, cooldown_minutes=0, return_window_cycles=3) == {
            VmId(101): frozenset({"pve2"})
        }
        # 2 × cooldown (2 × 60 min back from 10500 = 3300) reaches further than 3 cycles
        assert _window(store, load, cooldown_minutes=60, return_window_cycles=3) == both
        # 0 cycles: 2 × cooldown only (2 × 30 min → since 6900), and nothing at all without cooldown
        assert _window(store, load, cooldown_minutes=30, return_window_cycles=0) == {
            VmId(101): frozenset({"pve2"})
        }
        assert _window(store, load, cooldown_minutes=0, return_window_cycles=0) == {}
    finally:
        store.close()


def test_the_packaged_example_documents_the_key_and_it_loads_uncommented(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    example = Path(__file__).parents[2] / "packaging" / "proxlb.example.yaml"
    text = example.read_text(encoding="utf-8")
    assert "  # return_window_cycles: 48 " in text
    (tmp_path / "token_secret").write_text("00000000-0000-0000-0000-000000000000\n", encoding="utf-8")
    text = text.replace("/etc/proxlb/token_secret", "token_secret")
    text = text.replace("  # return_window_cycles: 48 ", "  return_window_cycles: 12 ")
    loaded = load_config(write_config(text), {})
    assert loaded.warnings == () and loaded.config.balancing.return_window_cycles == 12
