"""Node reads admin tools call besides status: DNS, time, services, node config, netstat, network
interfaces, host firewall options, PCI and USB devices.

Shapes follow pve-manager `PVE/API2/Nodes.pm` (`dns`, `time`, `netstat`), `PVE/API2/Services.pm`
(`index`, `service_state`), `PVE/API2/Network.pm` (`index`),
`PVE/API2/NodeConfig.pm` (`get_config`) and `PVE/API2/Hardware/PCI.pm` (`pciscan`). Every
answer is a pure function of the node, its guests and the virtual time.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim.handlers import Request
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route
from proxlb_sim.state import local_resources

SERVICES = (
    ("chrony", "chrony, an NTP client/server"),
    ("corosync", "Corosync Cluster Engine"),
    ("cron", "Regular background program processing daemon"),
    ("ksmtuned", "Kernel Samepage Merging (KSM) Tuning Daemon"),
    ("lxcfs", "FUSE filesystem for LXC"),
    ("postfix", "Postfix Mail Transport Agent (instance -)"),
    ("proxmox-firewall", "Proxmox nftables firewall"),
    ("pve-cluster", "The Proxmox VE cluster filesystem"),
    ("pve-firewall", "Proxmox VE firewall"),
    ("pve-ha-crm", "PVE Cluster HA Resource Manager Daemon"),
    ("pve-ha-lrm", "PVE Local HA Resource Manager Daemon"),
    ("pve-lxc-syscalld", "Proxmox VE LXC Syscall Daemon"),
    ("pvedaemon", "PVE API Daemon"),
    ("pvefw-logger", "Proxmox VE firewall logger"),
    ("pveproxy", "PVE API Proxy Server"),
    ("pvescheduler", "Proxmox VE scheduler"),
    ("pvestatd", "PVE Status Daemon"),
    ("qmeventd", "PVE Qemu Event Daemon"),
    ("spiceproxy", "PVE SPICE Proxy Server"),
    ("sshd", "OpenBSD Secure Shell server"),
    ("syslog", "System Logging Service"),
    ("systemd-journald", "Journal Service"),
    ("systemd-timesyncd", "Network Time Synchronization"),
)
_STOPPED = {"proxmox-firewall", "pve-firewall", "pvefw-logger", "systemd-timesyncd"}
_NOT_INSTALLED = {"systemd-timesyncd"}


def dns(r: Request) -> dict[str, Any]:
    """`GET /nodes/{n}/dns` (resolv.conf)."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    return {"search": "sim.lan", "dns1": "10.0.0.1", "dns2": "1.1.1.1"}


def node_time(r: Request) -> dict[str, Any]:
    """`GET /nodes/{n}/time`: epoch seconds; the simulated nodes run in UTC."""
    return {"timezone": "UTC", "time": int(r.t), "localtime": int(r.t)}


def services(r: Request) -> list[dict[str, Any]]:
    """`GET /nodes/{n}/services`: systemd state of PVE's service list (HA services idle without HA)."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    out = []
    for name, desc in SERVICES:
        running = name not in _STOPPED
        out.append(
            {
                "service": name,
                "name": name,
                "desc": desc,
                "state": "running" if running else "dead",
                "unit-state": "not-found" if name in _NOT_INSTALLED else "enabled" if running else "disabled",
                "active-state": "active" if running else "inactive",
            }
        )
    return out


def service_index(r: Request) -> list[dict[str, str]]:
    """`GET /nodes/{n}/services/{service}` (srvcmdidx)."""
    _service(r)
    return [{"subdir": s} for s in ("state", "start", "stop", "restart", "reload")]


def _service(r: Request) -> tuple[str, str]:
    name = str(r.params["service"])
    for entry in SERVICES:
        if entry[0] == name:
            return entry
    raise PveError.params({"service": f"value '{name}' does not have a value in the enumeration"})


def service_state(r: Request) -> dict[str, Any]:
    """`GET /nodes/{n}/services/{service}/state`."""
    name, _ = _service(r)
    return next(s for s in services(r) if s["service"] == name)


def network(r: Request) -> list[dict[str, Any]]:
    """`GET /nodes/{n}/network` (pve-manager `PVE/API2/Network.pm`): the uplink and the bridge the
    guests' `net<k>` use, addressed with the node's cluster IP."""
    node = r.cluster.nodes[r.node]
    wanted = r.params.get("type")
    ifaces = [
        {"iface": "eno1", "type": "eth", "method": "manual", "families": ["inet"], "active": 1, "exists": 1,
         "priority": 1},
        {"iface": "vmbr0", "type": "bridge", "method": "static", "families": ["inet"], "active": 1,
         "autostart": 1, "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0", "address": node.ip,
         "netmask": "24", "cidr": f"{node.ip}/24", "gateway": "10.0.0.1", "priority": 2},
    ]  # fmt: skip
    if wanted in ("any_bridge", "bridge"):
        return [i for i in ifaces if i["type"] == "bridge"]
    return [i for i in ifaces if wanted in (None, i["type"])]


def firewall_options(r: Request) -> dict[str, Any]:
    """`GET /nodes/{n}/firewall/options` (pve-firewall `API2/Firewall/Host.pm`): nothing set."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    return {"digest": hashlib.sha1(b"").hexdigest()}


def node_config(r: Request) -> dict[str, Any]:
    """`GET /nodes/{n}/config` (`property` picks one key): an unconfigured node has only a digest."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    if r.params.get("property"):
        return {}
    return {"digest": hashlib.sha1(b"").hexdigest()}


def netstat(r: Request) -> list[dict[str, Any]]:
    """`GET /nodes/{n}/netstat`: tap/veth counters of running guests (in = bytes sent to the guest);
    values are strings as PVE's /proc/net/dev parser leaves them."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    out = []
    for g in sorted(r.cluster.guests_on(r.node), key=lambda g: g.vmid):
        if not g.running:
            continue
        moved = int(g.net_rate * max(0.0, r.t - g.started_at))
        for key in sorted(k for k in g.config if k.startswith("net") and k[3:].isdigit()):
            out.append({"vmid": str(g.vmid), "dev": key, "in": str(moved // 3), "out": str(moved)})
    return out


def hardware_index(r: Request) -> list[dict[str, str]]:
    """pve-manager `PVE/API2/Hardware.pm` index."""
    return [{"type": "pci"}, {"type": "usb"}]


def _pci_ids(r: Request) -> list[str]:
    """Passthrough devices of this node's guests, then the host's own controllers."""
    ids = {"0000:00:00.0", "0000:00:14.0", "0000:00:1f.2", "0000:01:00.0"}
    for g in r.cluster.guests_on(r.node):
        for key in local_resources(g.config):
            if key.startswith("hostpci"):
                dev = str(g.config[key]).split(",")[0].split("=")[-1]
                ids.add(dev if dev.count(":") == 2 else f"0000:{dev}")
    return sorted(ids)


def pci_scan(r: Request) -> list[dict[str, Any]]:
    """`GET /nodes/{n}/hardware/pci` (`pci-class-blacklist` default drops bridges `05;06;0b`)."""
    r.cluster.auth.require(r.who, f"/nodes/{r.node}", "Sys.Audit")
    known = {
        "0000:00:00.0": ("0x060000", "0x8086", "0x3e30", "Intel Corporation", "8th Gen Core Host Bridge"),
        "0000:00:14.0": ("0x0c0330", "0x8086", "0xa36d", "Intel Corporation", "Cannon Lake USB 3.1 xHCI"),
        "0000:00:1f.2": ("0x058000", "0x8086", "0xa368", "Intel Corporation", "Cannon Lake PCH Power"),
        "0000:01:00.0": ("0x020000", "0x8086", "0x1563", "Intel Corporation", "Ethernet X550"),
    }
    blacklist = str(r.params.get("pci-class-blacklist", "05;06;0b")).split(";")
    out = []
    for group, dev in enumerate(_pci_ids(r)):
        cls, vendor, device, vendor_name, device_name = known.get(
            dev, ("0x030000", "0x10de", "0x2236", "NVIDIA Corporation", "GA102GL [A10]")
        )
        if any(b and cls[2:].startswith(b) for b in blacklist):
            continue
        out.append(
            {
                "id": dev,
                "class": cls,
                "vendor": vendor,
                "device": device,
                "vendor_name": vendor_name,
                "device_name": device_name,
                "subsystem_vendor": vendor,
                "subsystem_device": "0x0000",
                "iommugroup": group,
                "mdev": 0,
            }
        )
    return out


ROUTES: tuple[Route, ...] = (
    route("GET", "/nodes/{node}/dns", dns),
    route("GET", "/nodes/{node}/time", node_time),
    route("GET", "/nodes/{node}/services", services),
    route("GET", "/nodes/{node}/services/{service}", service_index),
    route("GET", "/nodes/{node}/services/{service}/state", service_state),
    route("GET", "/nodes/{node}/network", network, {"type": "string"}),
    route("GET", "/nodes/{node}/firewall/options", firewall_options),
    route("GET", "/nodes/{node}/hardware/usb", lambda r: []),
    route("GET", "/nodes/{node}/config", node_config, {"property": "string"}),
    route("GET", "/nodes/{node}/netstat", netstat),
    route("GET", "/nodes/{node}/hardware", hardware_index),
    route(
        "GET",
        "/nodes/{node}/hardware/pci",
        pci_scan,
        {"pci-class-blacklist": "string", "verbose": "boolean"},
    ),
)
