"""Parse `/cluster/resources` and `/cluster/status` into nodes, guests, storages and pools. Pure.

Invariants: nothing here raises on odd data; each skipped or repaired item appends one human
sentence to the caller's `warnings` list. Guests are keyed by vmid; duplicate names are kept
(and reported), duplicate vmids keep the first entry. Normal states (stopped, template, locked)
are not warnings: the rules stage turns them into exclusions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from proxlb.collect.raw import RawObject, as_flag, as_float, as_int, as_str, bad_number, objects, split_list
from proxlb.domain import Guest, GuestKind, Node, Resources, VmId

_KINDS = {"qemu": GuestKind.QEMU, "lxc": GuestKind.LXC}


@dataclass(frozen=True)
class ParsedResources:
    """What one `/cluster/resources` answer says, before per-node metrics are merged in.

    nodes: usage is the instant sample (cpu = fraction × maxcpu); online nodes without capacity
    figures are already turned offline. shared_storages: storage ids flagged shared on any node.
    """

    nodes: tuple[Node, ...]
    guests: tuple[Guest, ...]
    pools: dict[str, frozenset[VmId]] = field(default_factory=dict)
    shared_storages: frozenset[str] = frozenset()
    ignored_guests: int = 0  # guests dropped because their node is in ignore_nodes


@dataclass(frozen=True)
class ClusterStatus:
    name: str = ""
    quorate: bool = True


def milli(cores: float) -> int:
    """Cores as integer milli-cores (rounded half away from zero for positives)."""
    return int(cores * 1000 + 0.5) if cores >= 0 else -int(-cores * 1000 + 0.5)


def _int_field(entry: RawObject, key: str) -> int | None:
    value = as_int(entry.get(key))
    if value is None:
        number = as_float(entry.get(key))
        value = int(number) if number is not None else None
    return value


def _bad_numbers(entry: RawObject, keys: tuple[str, ...], who: str, warnings: list[str]) -> None:
    """One warning per entry naming every field that is present but not a finite number in range."""
    bad = [text for key in keys if (text := bad_number(entry, key)) is not None]
    if bad:
        warnings.append(f"/cluster/resources: {who} reports {', '.join(bad)}: not a number in range; ignored")


_NUMBERS = ("maxcpu", "maxmem", "maxdisk", "cpu", "mem", "disk")


def parse_node(entry: RawObject, warnings: list[str]) -> Node | None:
    """One `type: node` entry → Node (instant usage); None when it has no name."""
    name = as_str(entry.get("node"))
    if name is None:
        warnings.append(f"skipped a node entry without a name: {entry.get('id')!r}")
        return None
    _bad_numbers(entry, _NUMBERS, f"node '{name}'", warnings)
    online = as_str(entry.get("status")) == "online"
    maxcpu = as_float(entry.get("maxcpu"))
    maxmem = _int_field(entry, "maxmem")
    maxdisk = _int_field(entry, "maxdisk") or 0
    if online and (maxcpu is None or maxcpu <= 0 or maxmem is None or maxmem <= 0):
        warnings.append(f"node '{name}' is online but reports no cpu/memory capacity; treated as unavailable")
        online = False
    capacity = Resources(milli(maxcpu or 0.0), maxmem or 0, maxdisk)
    usage = Resources()
    if online:
        cpu = as_float(entry.get("cpu"))
        mem = _int_field(entry, "mem")
        disk = _int_field(entry, "disk")
        if cpu is None or mem is None:
            warnings.append(f"node '{name}' reports no cpu/memory usage; counted as 0 until metrics arrive")
        if mem is not None and maxmem and not 0 <= mem <= 2 * maxmem:
            warnings.append(
                f"/cluster/resources: node '{name}' reports mem={mem} against maxmem={maxmem}; "
                "counted as fully used"
            )
            mem = maxmem
        if cpu is not None and not 0.0 <= cpu <= 1.0:
            warnings.append(f"/cluster/resources: node '{name}' reports cpu={cpu} (a fraction 0-1); clamped")
            cpu = min(max(cpu, 0.0), 1.0)
        usage = Resources(milli((cpu or 0.0) * (maxcpu or 0.0)), mem or 0, disk or 0)
    return Node(
        name=name,
        online=online,
        capacity=capacity,
        usage=usage,
        ha_maintenance=as_str(entry.get("hastate")) == "maintenance",
    )


def _guest_vmid(entry: RawObject) -> int | None:
    vmid = as_int(entry.get("vmid"))
    if vmid is None:
        ident = as_str(entry.get("id")) or ""
        vmid = as_int(ident.split("/")[-1]) if "/" in ident else None
    return vmid if vmid is not None and vmid > 0 else None


def unique_tags(value: object) -> tuple[str, ...]:
    """PVE tag string (`;`, `,` or space separated) → tags, order kept, duplicates removed."""
    seen: dict[str, None] = {}
    for tag in split_list(value, "; ,"):
        seen.setdefault(tag, None)
    return tuple(seen)


def parse_guest(entry: RawObject, warnings: list[str]) -> Guest | None:
    """One `type: qemu|lxc` entry → Guest; None (with a warning) when it cannot be used."""
    kind = _KINDS.get(as_str(entry.get("type")) or "")
    if kind is None:
        return None
    vmid = _guest_vmid(entry)
    if vmid is None:
        warnings.append(f"skipped guest {entry.get('id')!r}: vmid {entry.get('vmid')!r} is not a number")
        return None
    node = as_str(entry.get("node"))
    if node is None:
        warnings.append(f"skipped guest {vmid}: no node given")
        return None
    status = as_str(entry.get("status")) or "unknown"
    _bad_numbers(entry, _NUMBERS, f"guest {vmid}", warnings)
    for key in ("mem", "maxmem"):
        number = as_float(entry.get(key))
        if number is not None and number < 0:
            warnings.append(f"/cluster/resources: guest {vmid} reports {key}={number:.0f}; counted as 0")
    maxcpu = as_float(entry.get("maxcpu"))
    maxmem = _int_field(entry, "maxmem")
    if maxcpu is None or maxmem is None:
        warnings.append(f"guest {vmid} reports no maxcpu/maxmem; its size is counted as 0")
    maxcpu = max(maxcpu or 0.0, 0.0)
    allocated = Resources(milli(maxcpu), max(maxmem or 0, 0), max(_int_field(entry, "maxdisk") or 0, 0))
    usage = Resources()
    if status != "stopped":
        cpu_fraction = min(max(as_float(entry.get("cpu")) or 0.0, 0.0), 1.0)
        disk = (_int_field(entry, "disk") or 0) if kind is GuestKind.LXC else 0
        usage = Resources(milli(cpu_fraction * maxcpu), max(_int_field(entry, "mem") or 0, 0), max(disk, 0))
    hastate = as_str(entry.get("hastate"))
    default_name = f"VM {vmid}" if kind is GuestKind.QEMU else f"CT{vmid}"
    return Guest(
        vmid=VmId(vmid),
        name=as_str(entry.get("name")) or default_name,
        kind=kind,
        node=node,
        status=status,
        allocated=allocated,
        usage=usage,
        template=as_flag(entry.get("template")),
        tags=unique_tags(entry.get("tags")),
        pool=as_str(entry.get("pool")),
        lock=as_str(entry.get("lock")),
        ha_managed=hastate is not None and hastate != "ignored",  # 'ignored': HA keeps hands off
        ha_state=hastate,
    )


def parse_resources(data: object, ignore_nodes: Collection[str], warnings: list[str]) -> ParsedResources:
    """The whole `/cluster/resources` answer → nodes, guests, pools, shared storages.

    Nodes in `ignore_nodes` are dropped with all their guests (upstream semantics: they are
    neither balanced nor counted). Guests on nodes the answer does not list are skipped.
    """
    if not isinstance(data, list):
        warnings.append("/cluster/resources did not return a list; the cluster looks empty")
        data = []
    entries = list(objects(data))
    nodes: dict[str, Node] = {}
    seen_names: set[str] = set()
    for entry in entries:
        if entry.get("type") != "node":
            continue
        node = parse_node(entry, warnings)
        if node is not None:
            seen_names.add(node.name)
        if node is None or node.name in ignore_nodes:
            continue
        if node.name in nodes:
            warnings.append(f"node '{node.name}' is listed twice; the first entry is kept")
            continue
        nodes[node.name] = node
    ignored = set(ignore_nodes)
    for name in sorted(ignored - seen_names):
        warnings.append(f"proxmox_cluster.ignore_nodes names '{name}', which is not a node of this cluster")
    storages: dict[str, set[str]] = defaultdict(set)
    local_room: dict[str, int] = defaultdict(int)  # bytes of local guest storage per node
    local_used: dict[str, int] = defaultdict(int)
    shared: set[str] = set()
    pools: dict[str, set[VmId]] = {}
    guests: dict[int, Guest] = {}
    ignored_guests = 0
    for entry in entries:
        kind = entry.get("type")
        if kind == "storage":
            storage, node_name = as_str(entry.get("storage")), as_str(entry.get("node"))
            if storage and node_name in nodes and as_str(entry.get("status")) == "available":
                storages[node_name].add(storage)
                if _holds_local_guest_disks(entry):
                    local_room[node_name] += max(_int_field(entry, "maxdisk") or 0, 0)
                    local_used[node_name] += max(_int_field(entry, "disk") or 0, 0)
            if storage and as_flag(entry.get("shared")):
                shared.add(storage)
            continue
        if kind == "pool":
            pool = as_str(entry.get("pool"))
            if pool:
                pools.setdefault(pool, set())
            continue
        guest = parse_guest(entry, warnings)
        if guest is None:
            continue
        if guest.node in ignored:
            ignored_guests += 1
            continue
        if guest.node not in nodes:
            warnings.append(
                f"skipped guest {guest.vmid} ('{guest.name}'): node '{guest.node}' is not in the cluster"
            )
            continue
        if guest.vmid in guests:
            warnings.append(f"guest {guest.vmid} is listed twice; the first entry is kept")
            continue
        guests[guest.vmid] = guest
        if guest.pool:
            pools.setdefault(guest.pool, set()).add(guest.vmid)
    _warn_duplicate_names(guests.values(), warnings)
    final_nodes = tuple(
        _with_local_disk(n, local_room.get(n.name, 0), local_used.get(n.name, 0), storages.get(n.name, set()))
        for n in nodes.values()
    )
    return ParsedResources(
        nodes=final_nodes,
        guests=tuple(guests.values()),
        pools={name: frozenset(members) for name, members in sorted(pools.items())},
        shared_storages=frozenset(shared),
        ignored_guests=ignored_guests,
    )


def _holds_local_guest_disks(entry: RawObject) -> bool:
    """A node-local storage that holds VM disks or container volumes (not ISO/backup-only, not shared)."""
    content = set(split_list(entry.get("content"), ","))
    return not as_flag(entry.get("shared")) and bool(content & {"images", "rootdir"})


def _with_local_disk(node: Node, room_bytes: int, used_bytes: int, storages: set[str]) -> Node:
    """Node disk = its local guest storage (where local disks land), else the root filesystem.

    Upstream measures only the root filesystem, which says nothing about room for guest disks.
    """
    capacity, usage = node.capacity, node.usage
    if room_bytes > 0:
        capacity = Resources(capacity.cpu_milli, capacity.mem_bytes, room_bytes)
        usage = Resources(usage.cpu_milli, usage.mem_bytes, used_bytes)
    return Node(
        name=node.name,
        online=node.online,
        capacity=capacity,
        usage=usage,
        ha_maintenance=node.ha_maintenance,
        storages=frozenset(storages),
    )


def _warn_duplicate_names(guests: Collection[Guest], warnings: list[str]) -> None:
    by_name: dict[str, list[int]] = defaultdict(list)
    for guest in guests:
        by_name[guest.name].append(guest.vmid)
    for name, vmids in sorted(by_name.items()):
        if len(vmids) > 1:
            listed = ", ".join(str(v) for v in sorted(vmids))
            warnings.append(f"guest name '{name}' is used by vmids {listed}; ProxLB keys guests by vmid")


def parse_cluster_status(data: object, warnings: list[str]) -> ClusterStatus:
    """`/cluster/status` → cluster name and quorum (a single node without cluster is quorate)."""
    for entry in objects(data):
        if entry.get("type") == "cluster":
            quorate = as_flag(entry.get("quorate"))
            if not quorate:
                warnings.append("the cluster is not quorate; migrations will fail until quorum returns")
            return ClusterStatus(name=as_str(entry.get("name")) or "", quorate=quorate)
    return ClusterStatus()
