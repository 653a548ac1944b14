"""Weekly maintenance windows: [start − pre-migration, start + duration), week wrap, parsing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxlb.config import LoadedConfig, ProxlbConfig, active_maintenance_nodes
from proxlb.config.schedule import WeeklyStart, parse_schedule_entry

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]

# 2026-11-16 is a Monday
MONDAY = datetime(2026, 11, 16)


def _config(
    schedules: dict[str, list[str]], duration: int, pre: int = 0, static: tuple[str, ...] = ()
) -> ProxlbConfig:
    return ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["pve1"], "user": "u@pve", "token_id": "t", "token_secret": "s"},
            "proxmox_cluster": {
                "maintenance_nodes": list(static),
                "maintenance_nodes_schedule": {
                    "duration": duration,
                    "pre-migration": pre,
                    "schedules": schedules,
                },
            },
        }
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Monday, 8:00", WeeklyStart(0, 8, 0)),
        ("monday, 08:00", WeeklyStart(0, 8, 0)),
        ("SUNDAY, 23:59", WeeklyStart(6, 23, 59)),
        ("Wed, 0:05", WeeklyStart(2, 0, 5)),
        ("friday,22:30", WeeklyStart(4, 22, 30)),
        ("Mondy, 8:00", None),
        ("Monday, 24:00", None),
        ("Monday, 8:60", None),
        ("Monday 8", None),
        ("8:00", None),
        ("", None),
    ],
)
def test_parse_entries(text: str, expected: WeeklyStart | None) -> None:
    assert parse_schedule_entry(text) == expected


def test_window_is_start_to_start_plus_duration() -> None:
    config = _config({"pve2": ["Monday, 8:00"]}, duration=2)
    at = MONDAY.replace(hour=8)
    assert active_maintenance_nodes(config, at - timedelta(minutes=1)) == frozenset()
    assert active_maintenance_nodes(config, at) == {"pve2"}
    assert active_maintenance_nodes(config, at + timedelta(hours=1, minutes=59)) == {"pve2"}
    assert active_maintenance_nodes(config, at + timedelta(hours=2)) == frozenset()


def test_pre_migration_opens_the_window_early() -> None:
    config = _config({"pve2": ["Monday, 8:00"]}, duration=1, pre=30)
    at = MONDAY.replace(hour=8)
    assert active_maintenance_nodes(config, at - timedelta(minutes=31)) == frozenset()
    assert active_maintenance_nodes(config, at - timedelta(minutes=30)) == {"pve2"}
    assert active_maintenance_nodes(config, at + timedelta(minutes=59)) == {"pve2"}


def test_window_wraps_past_the_end_of_the_week() -> None:
    # Sunday 22:00 for 4 h: still open Monday 01:00 (next ISO week)
    config = _config({"pve3": ["Sunday, 22:00"]}, duration=4)
    assert active_maintenance_nodes(config, MONDAY.replace(hour=1)) == {"pve3"}
    assert active_maintenance_nodes(config, MONDAY.replace(hour=2)) == frozenset()
    assert active_maintenance_nodes(config, MONDAY - timedelta(hours=1)) == {"pve3"}  # Sunday 23:00


def test_pre_migration_reaches_back_into_the_previous_week() -> None:
    # Monday 00:15 with 60 min pre-migration opens on Sunday 23:15
    config = _config({"pve3": ["Monday, 0:15"]}, duration=1, pre=60)
    sunday = MONDAY + timedelta(days=6)
    assert active_maintenance_nodes(config, sunday.replace(hour=23, minute=15)) == {"pve3"}
    assert active_maintenance_nodes(config, sunday.replace(hour=23, minute=14)) == frozenset()


def test_duration_longer_than_a_week() -> None:
    config = _config({"pve4": ["Monday, 0:00"]}, duration=24 * 10)
    # 9 days after a Monday start it is still open (started the previous Monday)
    assert active_maintenance_nodes(config, MONDAY + timedelta(days=9)) == {"pve4"}


def test_static_nodes_are_always_included_and_invalid_entries_skipped() -> None:
    config = _config({"pve2": ["Mondy, 8:00", "Tuesday, 3:00"]}, duration=1, static=("pve1",))
    assert active_maintenance_nodes(config, MONDAY.replace(hour=8)) == {"pve1"}
    assert active_maintenance_nodes(config, (MONDAY + timedelta(days=1)).replace(hour=3)) == {"pve1", "pve2"}


def test_several_nodes_and_entries() -> None:
    config = _config({"a": ["Monday, 8:00", "Thursday, 8:00"], "b": ["Thursday, 8:30"]}, duration=1)
    thursday = (MONDAY + timedelta(days=3)).replace(hour=8, minute=45)
    assert active_maintenance_nodes(config, thursday) == {"a", "b"}


def test_aware_datetimes_use_their_own_wall_clock() -> None:
    config = _config({"pve2": ["Monday, 8:00"]}, duration=1)
    tz = timezone(timedelta(hours=2))
    assert active_maintenance_nodes(config, MONDAY.replace(hour=8, minute=30, tzinfo=tz)) == {"pve2"}


def test_invalid_entries_are_load_warnings(load: Load) -> None:
    text = MINIMAL + (
        "proxmox_cluster:\n  maintenance_nodes_schedule:\n    duration: 1\n"
        "    schedules: {pve2: ['Monday, 8:00', 'Mondy, 8:00']}\n"
    )
    loaded = load(text)
    assert loaded.warnings == (
        "proxmox_cluster.maintenance_nodes_schedule.schedules.pve2[1]: 'Mondy, 8:00' ignored; "
        "expected '<Weekday>, H:MM', e.g. 'Monday, 8:00'",
    )


def test_zero_length_windows_are_warned(load: Load) -> None:
    text = (
        MINIMAL + "proxmox_cluster:\n  maintenance_nodes_schedule:\n    schedules: {pve2: ['Monday, 8:00']}\n"
    )
    loaded = load(text)
    assert any("no window ever opens" in w for w in loaded.warnings)
    assert active_maintenance_nodes(loaded.config, MONDAY.replace(hour=8)) == frozenset()


@given(
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    duration=st.integers(1, 48),
    pre=st.integers(0, 180),
    offset_minutes=st.integers(-3 * 24 * 60, 3 * 24 * 60),
)
def test_membership_matches_the_window_definition(
    weekday: int, hour: int, minute: int, duration: int, pre: int, offset_minutes: int
) -> None:
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    config = _config({"n": [f"{days[weekday]}, {hour}:{minute:02d}"]}, duration=duration, pre=pre)
    start = MONDAY + timedelta(days=weekday, hours=hour, minutes=minute)
    now = start + timedelta(minutes=offset_minutes)
    inside = -pre <= offset_minutes < duration * 60
    assert (active_maintenance_nodes(config, now) == {"n"}) == inside
