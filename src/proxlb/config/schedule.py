"""Weekly maintenance windows (`proxmox_cluster.maintenance_nodes_schedule`). Pure; no clock.

An entry is `"<Weekday>, H:MM"` (English weekday, full or three-letter, any case; 24 h time),
e.g. `"Monday, 8:00"`. Its window is `[start − pre-migration minutes, start + duration hours)`,
in the wall-clock time of the `now` passed in (upstream uses the host's local time). Windows of
the previous, current and next weeks are checked (more when the duration exceeds a week), so
a window crossing midnight Sunday→Monday or the week boundary works in both directions.

Invariants: invalid entries never raise here (they are skipped; `schedule_warnings` lists them
at load time); a duration of 0 with pre-migration 0 gives an empty window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxlb.config.model import MaintenanceScheduleConfig, ProxlbConfig

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ENTRY = re.compile(r"^\s*(?P<day>[A-Za-z]+)\s*(?:,\s*|\s+)(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$")
EXPECTED_FORMAT = "'<Weekday>, H:MM', e.g. 'Monday, 8:00'"


@dataclass(frozen=True, slots=True)
class WeeklyStart:
    """A weekly start time: weekday 0 = Monday … 6 = Sunday."""

    weekday: int
    hour: int
    minute: int


def parse_schedule_entry(text: str) -> WeeklyStart | None:
    """`"Monday, 8:00"` → WeeklyStart(0, 8, 0); None if the entry is not understood."""
    m = _ENTRY.match(text)
    if m is None:
        return None
    day = m.group("day").lower()
    matches = [i for i, name in enumerate(_WEEKDAYS) if name == day or (len(day) == 3 and name[:3] == day)]
    hour, minute = int(m.group("hour")), int(m.group("minute"))
    if len(matches) != 1 or hour > 23 or minute > 59:
        return None
    return WeeklyStart(matches[0], hour, minute)


def window_contains(start: WeeklyStart, schedule: MaintenanceScheduleConfig, now: datetime) -> bool:
    """True if `now` lies in a window of `start` (any week near `now`)."""
    before = timedelta(minutes=schedule.pre_migration)
    length = timedelta(hours=schedule.duration)
    this_week = (now - timedelta(days=now.weekday())).replace(
        hour=start.hour, minute=start.minute, second=0, microsecond=0
    ) + timedelta(days=start.weekday)
    weeks_back = 1 + schedule.duration // (7 * 24)
    weeks_ahead = 1 + schedule.pre_migration // (7 * 24 * 60)
    for offset in range(-weeks_back, weeks_ahead + 1):
        begin = this_week + timedelta(weeks=offset)
        if begin - before <= now < begin + length:
            return True
    return False


def scheduled_maintenance_nodes(config: ProxlbConfig, now: datetime) -> frozenset[str]:
    """Nodes whose weekly maintenance window is open at `now`."""
    schedule = config.proxmox_cluster.maintenance_nodes_schedule
    active: set[str] = set()
    for node, entries in schedule.schedules.items():
        for entry in entries:
            start = parse_schedule_entry(entry)
            if start is not None and window_contains(start, schedule, now):
                active.add(node)
                break
    return frozenset(active)


def active_maintenance_nodes(config: ProxlbConfig, now: datetime) -> frozenset[str]:
    """Static `maintenance_nodes` ∪ nodes whose weekly window is open at `now`."""
    return frozenset(config.proxmox_cluster.maintenance_nodes) | scheduled_maintenance_nodes(config, now)


def schedule_warnings(config: ProxlbConfig) -> tuple[str, ...]:
    """Load-time warnings: unparsable entries (skipped, as upstream) and windows that can never open."""
    schedule = config.proxmox_cluster.maintenance_nodes_schedule
    prefix = "proxmox_cluster.maintenance_nodes_schedule"
    found: list[str] = []
    for node, entries in schedule.schedules.items():
        for i, entry in enumerate(entries):
            if parse_schedule_entry(entry) is None:
                found.append(f"{prefix}.schedules.{node}[{i}]: {entry!r} ignored; expected {EXPECTED_FORMAT}")
    if schedule.schedules and schedule.duration == 0 and schedule.pre_migration == 0:
        found.append(
            f"{prefix}: duration and pre-migration are both 0, so no window ever opens; set duration (hours)"
        )
    return tuple(found)
