"""Integer resource vectors. Pure; no I/O.

CPU is counted in milli-cores (1 core = 1000), memory and disk in bytes, so sums and
differences are exact and plans are reproducible byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True, slots=True)
class Resources:
    """A (cpu, memory, disk) vector; used for capacities, allocations and measured usage."""

    cpu_milli: int = 0
    mem_bytes: int = 0
    disk_bytes: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_milli + other.cpu_milli,
            self.mem_bytes + other.mem_bytes,
            self.disk_bytes + other.disk_bytes,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_milli - other.cpu_milli,
            self.mem_bytes - other.mem_bytes,
            self.disk_bytes - other.disk_bytes,
        )

    def clamp_min_zero(self) -> Resources:
        """Each component at least 0 (for 'free' computations)."""
        return Resources(max(0, self.cpu_milli), max(0, self.mem_bytes), max(0, self.disk_bytes))

    def fits_within(self, limit: Resources) -> bool:
        """True if every component is <= the limit's component."""
        return (
            self.cpu_milli <= limit.cpu_milli
            and self.mem_bytes <= limit.mem_bytes
            and self.disk_bytes <= limit.disk_bytes
        )

    def get(self, resource: str) -> int:
        """Component by name: 'cpu', 'memory' or 'disk'."""
        if resource == "cpu":
            return self.cpu_milli
        if resource == "memory":
            return self.mem_bytes
        if resource == "disk":
            return self.disk_bytes
        raise KeyError(resource)

    @staticmethod
    def sum(items: list[Resources] | tuple[Resources, ...]) -> Resources:
        cpu = mem = disk = 0
        for r in items:
            cpu += r.cpu_milli
            mem += r.mem_bytes
            disk += r.disk_bytes
        return Resources(cpu, mem, disk)


ZERO = Resources()
RESOURCE_NAMES: tuple[str, ...] = ("memory", "cpu", "disk")
