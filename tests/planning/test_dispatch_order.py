"""Within a step, moves are listed in the order the executor starts them: longest expected first."""

from __future__ import annotations

from proxlb.domain import GuestKind, Migration, MigrationReason, VmId
from proxlb.planning.sequence import expected_seconds, sequence
from tests.planning.builders import cluster, drain, guest, node, problem, rules

GIB = 1024**3


def mig(vmid: int, src: str, dst: str, reason: MigrationReason = MigrationReason.DRAIN) -> Migration:
    return Migration(VmId(vmid), f"g{vmid}", GuestKind.QEMU, src, dst, reason, "test")


def test_a_drain_starts_its_longest_copy_first() -> None:
    # the planner lists the big-memory VMs first; the small VM with a 200 GiB local disk takes longest
    nodes = [node("a", mem="256G"), node("b", mem="256G"), node("c", mem="256G")]
    guests = [
        guest(1, on="a", mem="16G"),
        guest(2, on="a", mem="12G"),
        guest(3, on="a", mem="64G", kind="lxc"),  # a container restarts: its memory is not copied
        guest(4, on="a", mem="2G", local_disk_bytes=200 * GIB),
        guest(5, on="a", mem="1G", ha_managed=True),  # waits for the HA stack
    ]
    pb = problem(cluster(nodes, guests), rules(drain("a")))
    planned = [mig(3, "a", "b"), mig(1, "a", "b"), mig(2, "a", "c"), mig(5, "a", "c"), mig(4, "a", "c")]
    ordered, unmet = sequence(planned, pb)
    assert unmet == ()
    assert {m.step for m in ordered} == {0}
    assert [m.vmid for m in ordered] == [4, 1, 2, 5, 3]
    seconds = [expected_seconds(pb, m) for m in ordered]
    assert seconds == sorted(seconds, reverse=True)


def test_priority_still_comes_before_size_within_a_step() -> None:
    nodes = [node("a", mem="256G"), node("b", mem="256G"), node("c", mem="256G")]
    guests = [guest(1, on="a", mem="2G"), guest(2, on="c", mem="2G", local_disk_bytes=100 * GIB)]
    pb = problem(cluster(nodes, guests), rules(drain("a")))
    ordered, _ = sequence([mig(2, "c", "b", MigrationReason.BALANCE), mig(1, "a", "b")], pb)
    assert [m.vmid for m in ordered] == [1, 2]
