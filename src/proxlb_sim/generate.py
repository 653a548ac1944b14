"""`proxlb-sim generate`: realistic random scenarios of any size, deterministic for a seed.

Produces mixed node sizes, VMs and CTs of mixed sizes (memory/cpu usage below their maximum), tags
including `plb_*` ones, pools, a few stopped guests and templates, shared Ceph storage for most disks and
some local disks, a few HA-managed guests. `skew` (0..1) piles guests onto the first nodes so the
cluster starts unbalanced; placement never commits more than ~90% of a node's memory to running guests.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import yaml

GIB = 1024**3
MIB = 1024**2
NODE_SIZES = ((32, 128), (48, 256), (64, 256), (64, 384), (96, 512), (128, 768))  # (cores, GiB)
GUEST_SIZES = ((1, 1), (1, 2), (2, 2), (2, 4), (4, 8), (4, 16), (8, 16), (8, 32), (16, 64))  # (vCPU, GiB)
GUEST_WEIGHTS = (10, 12, 14, 16, 16, 10, 8, 5, 2)
NAMES = ("web", "app", "db", "cache", "mq", "api", "ci", "log", "mon", "dns", "proxy", "k8s", "build", "git")


@dataclass(frozen=True)
class GenerateOptions:
    nodes: int = 5
    guests: int = 40
    seed: int = 0
    skew: float = 0.5
    pve8_nodes: int = 0
    cluster_name: str = "lab"


MEMORY_FILL = 0.75  # cluster-wide: Σ memory of running guests / Σ node memory
VCPU_PER_CORE = 1.8  # cluster-wide: Σ vCPUs of running guests / Σ node cores


def _node_weights(n: int, skew: float) -> list[float]:
    """Placement weights: the first nodes get more guests, boundedly (about 2-3× the average at skew 0.6)."""
    return [1.0 + 4.0 * skew * 0.6**i for i in range(n)]


def _scaled_sizes(
    base: dict[str, tuple[int, int]], running_gib: float, running_vcpus: int
) -> dict[str, tuple[int, int]]:
    """Grow node sizes (never shrink) so the cluster as a whole is realistically filled."""
    mem_factor = max(1.0, running_gib / (MEMORY_FILL * sum(m for _, m in base.values())))
    cpu_factor = max(1.0, running_vcpus / (VCPU_PER_CORE * sum(c for c, _ in base.values())))
    return {
        n: (8 * math.ceil(cores * cpu_factor / 8), 64 * math.ceil(mem * mem_factor / 64))
        for n, (cores, mem) in base.items()
    }


def generate_scenario(o: GenerateOptions) -> dict[str, Any]:
    """A scenario as a plain dict (write it with `to_yaml`)."""
    if o.nodes < 1 or o.guests < 0 or not 0 <= o.skew <= 1:
        raise ValueError("need nodes >= 1, guests >= 0 and 0 <= skew <= 1")
    rnd = random.Random(o.seed)
    nodes = [f"pve{i + 1}" for i in range(o.nodes)]
    base = {n: NODE_SIZES[rnd.randrange(1, 5) if o.nodes > 1 else 2] for n in nodes}
    specs = []
    for _ in range(o.guests):
        kind = "lxc" if rnd.random() < 0.25 else "qemu"
        vcpu, mem_g = rnd.choices(GUEST_SIZES, GUEST_WEIGHTS)[0]
        template = kind == "qemu" and rnd.random() < 0.02
        running = not template and rnd.random() > 0.08
        specs.append((kind, vcpu, mem_g, template, running))
    sizes = _scaled_sizes(
        base, sum(m for _, _, m, _, r in specs if r), sum(c for _, c, _, _, r in specs if r)
    )
    free = {n: sizes[n][1] * GIB * 0.95 for n in nodes}
    resources: list[dict[str, Any]] = []
    guest_config: dict[int, dict[str, Any]] = {}
    ha_resources: list[dict[str, Any]] = []
    pools: dict[str, list[int]] = {"prod": [], "dev": []}
    weights = _node_weights(o.nodes, o.skew)
    groups = max(1, o.guests // 12)
    for index, (kind, vcpu, mem_g, template, running) in enumerate(specs):
        vmid = 100 + index
        maxmem = mem_g * GIB
        candidates = [n for n in nodes if free[n] >= maxmem] or nodes
        node = rnd.choices(candidates, [weights[nodes.index(n)] for n in candidates])[0]
        if running:
            free[node] -= maxmem
        role = rnd.choice(NAMES)
        name = f"{role}{index:03d}" if kind == "qemu" else f"ct-{role}{index:03d}"
        tags = sorted(_tags(rnd, role, groups, nodes))
        disk_g = rnd.choice((8, 16, 32, 32, 64, 100, 200))
        local = rnd.random() < 0.1
        storage = "local-lvm" if local else "ceph-rbd"
        entry: dict[str, Any] = {
            "id": f"{kind}/{vmid}",
            "vmid": vmid,
            "type": kind,
            "node": node,
            "name": name,
            "status": "running" if running else "stopped",
            "template": int(template),
            "maxcpu": vcpu,
            "cpu": round(rnd.betavariate(1.5, 5), 4) if running else 0,
            "maxmem": maxmem,
            "mem": int(maxmem * rnd.uniform(0.35, 0.9)) if running else 0,
            "maxdisk": disk_g * GIB,
            "disk": int(disk_g * GIB * rnd.uniform(0.1, 0.6)) if (kind == "lxc" and running) else 0,
            "uptime": rnd.randrange(3_600, 5_000_000) if running else 0,
        }
        if tags:
            entry["tags"] = ";".join(tags)
        pool = "prod" if "prod" in tags else "dev" if "dev" in tags else None
        if pool:
            entry["pool"] = pool
            pools[pool].append(vmid)
        resources.append(entry)
        volume = f"{storage}:vm-{vmid}-disk-0,size={disk_g}G"
        if kind == "qemu":
            conf: dict[str, Any] = {
                "name": name,
                "cores": vcpu,
                "sockets": 1,
                "memory": str(mem_g * 1024),
                "ostype": "l26",
                "scsihw": "virtio-scsi-single",
                "scsi0": volume,
                "net0": f"virtio=BC:24:11:{index >> 8 & 255:02X}:{index & 255:02X}:10,bridge=vmbr0",
                "onboot": 1,
                "agent": "1",
            }
            if running and rnd.random() < 0.02:
                conf["hostpci0"] = "0000:41:00.0,pcie=1"
        else:
            conf = {
                "hostname": name,
                "arch": "amd64",
                "ostype": "debian",
                "cores": vcpu,
                "memory": mem_g * 1024,
                "swap": 512,
                "rootfs": volume,
                "unprivileged": 1,
                "onboot": 1,
                "net0": f"name=eth0,bridge=vmbr0,hwaddr={_mac(index, 20)},ip=dhcp,type=veth",
            }
        if template:
            conf["template"] = 1
        guest_config[vmid] = conf
        if running and rnd.random() < 0.05:
            ha_resources.append({"sid": f"{'vm' if kind == 'qemu' else 'ct'}:{vmid}", "state": "started"})
    for i, n in enumerate(nodes):
        cores, mem_g = sizes[n]
        resources.append(
            {
                "id": f"node/{n}",
                "type": "node",
                "node": n,
                "status": "online",
                "maxcpu": cores,
                "maxmem": mem_g * GIB,
                "maxdisk": 100 * GIB,
                "disk": (8 + i % 5) * GIB,
                "level": "",
            }
        )
        resources.append(
            {
                "id": f"storage/{n}/local-lvm",
                "type": "storage",
                "storage": "local-lvm",
                "node": n,
                "plugintype": "lvmthin",
                "shared": 0,
                "content": "images,rootdir",
                "maxdisk": 1800 * GIB,
                "disk": rnd.randrange(50, 600) * GIB,
            }
        )
        resources.append(
            {
                "id": f"storage/{n}/ceph-rbd",
                "type": "storage",
                "storage": "ceph-rbd",
                "node": n,
                "plugintype": "rbd",
                "shared": 1,
                "content": "images,rootdir",
                "maxdisk": 60 * 1024 * GIB,
                "disk": 14 * 1024 * GIB,
            }
        )
    scenario: dict[str, Any] = {
        "sim": {"cluster_name": o.cluster_name, "seed": o.seed},
        "resources": resources,
        "guest_config": guest_config,
        "pools": [{"poolid": p, "comment": f"{p} guests", "members": m} for p, m in pools.items() if m],
    }
    if ha_resources:
        scenario["ha"] = {"resources": ha_resources}
    if o.pve8_nodes:
        scenario["versions"] = {n: "8.4.1" for n in nodes[-o.pve8_nodes :]}
    return scenario


def _mac(index: int, suffix: int) -> str:
    return f"BC:24:11:{index >> 8 & 255:02X}:{index & 255:02X}:{suffix}"


def _tags(rnd: random.Random, role: str, groups: int, nodes: list[str]) -> set[str]:
    tags = {rnd.choice(("prod", "prod", "dev"))} if rnd.random() < 0.7 else set()
    if role in ("db", "web", "cache"):
        tags.add(role)
    roll = rnd.random()
    if roll < 0.10:
        tags.add(f"plb_affinity_grp{rnd.randrange(groups)}")
    elif roll < 0.18:
        tags.add(f"plb_anti_affinity_{role}")
    elif roll < 0.21:
        tags.add("plb_ignore_vm")
    elif roll < 0.24:
        tags.add(f"plb_pin_{rnd.choice(nodes)}")
    return tags


def to_yaml(scenario: dict[str, Any]) -> str:
    """YAML text of a scenario, resources in flow style (one entry per line)."""
    head = "# generated by proxlb-sim generate\n"
    parts = []
    for key, value in scenario.items():
        if key == "resources":
            lines = "\n".join(
                f"  - {yaml.safe_dump(e, default_flow_style=True, width=10_000, sort_keys=False).strip()}"
                for e in value
            )
            parts.append(f"resources:\n{lines}\n")
        else:
            parts.append(yaml.safe_dump({key: value}, sort_keys=False, width=10_000))
    return head + "".join(parts)
