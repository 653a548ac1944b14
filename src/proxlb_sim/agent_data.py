"""What a simulated guest's QEMU guest agent (and a container's `ip a`) reports. Pure and deterministic.

Addresses follow one per-guest pattern so every tool sees the same answer: interface `k` of guest
`vmid` (its `net<k>` config key) has IPv4 `10.<100+k>.<vmid // 250 % 250>.<vmid % 250 + 2>/24` and
IPv6 `fd00:<k>::<vmid hex>/64`, plus loopback; the MAC is the one in the config. Shapes are those of
the QGA commands (qemu-guest-agent's `qga/qapi-schema.json`) that qemu-server passes through as
`{"result": ...}`.
"""

from __future__ import annotations

import re
from typing import Any

from proxlb_sim.state import GIB, SimGuest, parse_disk

_MAC = re.compile(r"([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})")
_LOOPBACK = {
    "name": "lo",
    "hardware-address": "00:00:00:00:00:00",
    "ip-addresses": [
        {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
        {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128},
    ],
}
_LINUX = {
    "id": "debian",
    "kernel-release": "6.12.43+deb13-amd64",
    "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.43-1 (2025-08-27)",
    "machine": "x86_64",
    "name": "Debian GNU/Linux",
    "pretty-name": "Debian GNU/Linux 13 (trixie)",
    "version": "13 (trixie)",
    "version-id": "13",
}
_WINDOWS = {
    "id": "mswindows",
    "kernel-release": "20348",
    "kernel-version": "10.0",
    "machine": "x86_64",
    "name": "Microsoft Windows",
    "pretty-name": "Windows Server 2022 Standard",
    "variant": "server",
    "variant-id": "server",
    "version": "Microsoft Windows Server 2022",
    "version-id": "2022",
}


def addresses(vmid: int, index: int) -> tuple[str, str]:
    """(IPv4, IPv6) without prefix of interface `index` of guest `vmid`."""
    return f"10.{100 + index}.{vmid // 250 % 250}.{vmid % 250 + 2}", f"fd00:{index}::{vmid:x}"


def _nics(g: SimGuest) -> list[tuple[int, str]]:
    """(index, MAC) of each `net<k>` in the config, in order."""
    out = []
    for key in sorted(k for k in g.config if re.fullmatch(r"net\d+", k)):
        found = _MAC.search(str(g.config[key]))
        mac = found.group(1).lower() if found else f"bc:24:11:{g.vmid % 256:02x}:{g.vmid // 256 % 256:02x}:01"
        out.append((int(key[3:]), mac))
    return out


def vm_interfaces(g: SimGuest, t: float) -> list[dict[str, Any]]:
    """QGA `guest-network-get-interfaces`: loopback, then one interface per `net<k>`."""
    out: list[dict[str, Any]] = [dict(_LOOPBACK)]
    windows = str(g.config.get("ostype", "")).startswith("win")
    uptime = max(0.0, t - g.started_at)
    for index, mac in _nics(g):
        v4, v6 = addresses(g.vmid, index)
        rx = int(g.net_rate * uptime)
        out.append(
            {
                "name": f"Ethernet {index + 1}" if windows else f"ens{18 + index}",
                "hardware-address": mac,
                "ip-addresses": [
                    {"ip-address-type": "ipv4", "ip-address": v4, "prefix": 24},
                    {"ip-address-type": "ipv6", "ip-address": v6, "prefix": 64},
                ],
                "statistics": {
                    "rx-bytes": rx,
                    "rx-packets": rx // 1200,
                    "rx-errs": 0,
                    "rx-dropped": 0,
                    "tx-bytes": rx // 3,
                    "tx-packets": rx // 3600,
                    "tx-errs": 0,
                    "tx-dropped": 0,
                },
            }
        )
    return out


def ct_interfaces(g: SimGuest) -> list[dict[str, Any]]:
    """pve-container `get_interfaces`: lo plus one `eth<k>` per `net<k>` with legacy `inet`/`inet6`."""
    out: list[dict[str, Any]] = []
    entries = [("lo", "00:00:00:00:00:00", ("127.0.0.1", 8), ("::1", 128))]
    for index, mac in _nics(g):
        v4, v6 = addresses(g.vmid, index)
        name_match = re.search(r"name=([^,]+)", str(g.config.get(f"net{index}", "")))
        entries.append((name_match.group(1) if name_match else f"eth{index}", mac, (v4, 24), (v6, 64)))
    for name, mac, (v4, p4), (v6, p6) in entries:
        out.append(
            {
                "name": name,
                "inet": f"{v4}/{p4}",
                "inet6": f"{v6}/{p6}",
                "ip-addresses": [
                    {"ip-address-type": "inet", "ip-address": v4, "prefix": p4},
                    {"ip-address-type": "inet6", "ip-address": v6, "prefix": p6},
                ],
                "hardware-address": mac,
                "hwaddr": mac,
            }
        )
    return out


def _osinfo(g: SimGuest, pretty: str | None) -> dict[str, Any]:
    base = dict(_WINDOWS if str(g.config.get("ostype", "")).startswith("win") else _LINUX)
    if pretty:
        base["pretty-name"] = pretty
    return base


def _fsinfo(g: SimGuest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for index, (key, value) in enumerate(sorted(g.config.items())):
        disk = parse_disk(key, value)
        if disk is None or disk.cdrom or key.startswith(("efidisk", "tpmstate", "unused")):
            continue
        total = disk.size or g.maxdisk or 32 * GIB
        out.append(
            {
                "name": f"sd{chr(97 + index % 26)}1",
                "mountpoint": "/" if not out else f"/mnt/{key}",
                "type": "ext4",
                "total-bytes": total,
                "used-bytes": min(total, g.disk or total // 4),
                "disk": [{"bus-type": "scsi", "bus": 0, "target": 0, "unit": len(out), "dev": "/dev/sda1"}],
            }
        )
    return out


def agent_result(command: str, g: SimGuest, pretty_os: str | None, t: float) -> Any:
    """The `result` of one read-only QGA command for a running VM whose agent answers."""
    cores = int(g.maxcpu) if float(g.maxcpu).is_integer() else int(g.maxcpu) + 1
    block = 128 * 1024 * 1024
    answers: dict[str, Any] = {
        "network-get-interfaces": lambda: vm_interfaces(g, t),
        "info": lambda: {
            "version": "9.2.0",
            "supported_commands": [
                {"name": f"guest-{n}", "enabled": True, "success-response": True}
                for n in ("ping", "info", "get-osinfo", "network-get-interfaces", "get-time", "shutdown")
            ],
        },
        "get-osinfo": lambda: _osinfo(g, pretty_os),
        "get-host-name": lambda: {"host-name": g.name},
        "get-time": lambda: int(t * 1_000_000_000),
        "get-timezone": lambda: {"zone": "UTC", "offset": 0},
        "get-users": lambda: [],
        "get-vcpus": lambda: [{"logical-id": i, "online": True, "can-offline": i > 0} for i in range(cores)],
        "get-fsinfo": lambda: _fsinfo(g),
        "get-memory-block-info": lambda: {"size": block},
        "get-memory-blocks": lambda: [
            {"phys-index": i, "online": True, "can-offline": i > 0} for i in range(max(1, g.maxmem // block))
        ],
    }
    return answers[command]()
