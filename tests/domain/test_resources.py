from proxlb.domain import GIB, ClusterSnapshot, Guest, GuestKind, Node, Resources, VmId


def test_resources_arithmetic_is_exact() -> None:
    a = Resources(1500, 4 * GIB, 10)
    b = Resources(500, 1 * GIB, 20)
    assert a + b == Resources(2000, 5 * GIB, 30)
    assert (a - b).clamp_min_zero() == Resources(1000, 3 * GIB, 0)
    assert b.fits_within(a) is False
    assert Resources.sum([a, b]).get("memory") == 5 * GIB


def test_snapshot_sorts_and_indexes() -> None:
    nodes = (Node("pve2", True, Resources(), Resources()), Node("pve1", True, Resources(), Resources()))
    g = Guest(VmId(101), "a", GuestKind.QEMU, "pve2", "running", Resources(), Resources())
    h = Guest(VmId(100), "a", GuestKind.LXC, "pve1", "stopped", Resources(), Resources())
    snap = ClusterSnapshot(taken_at=0.0, nodes=nodes, guests=(g, h))
    assert snap.node_names == ("pve1", "pve2")
    assert [x.vmid for x in snap.guests] == [100, 101]
    assert snap.guest(101) is g and snap.guest(100) is h
    assert snap.guests_on("pve2") == (g,)
    assert snap.fingerprint() == ClusterSnapshot(0.0, nodes, (h, g)).fingerprint()
    assert h.sid == "ct:100" and GuestKind.QEMU.balance_type == "vm"
