"""ProxLB: a dynamic resource scheduler for Proxmox VE clusters."""

__version__ = "0.1.0"
# The upstream ProxLB release whose configuration, tags, flags and JSON this version accepts unchanged.
UPSTREAM_COMPATIBLE = "2.3.0"
