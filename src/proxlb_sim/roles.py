"""PVE's built-in roles: the privilege groups of pve-access-control `src/PVE/AccessControl.pm` and the
roles PVE builds from them (PVEAdmin, PVEAuditor, PVEVMAdmin, PVEVMUser, ..., Administrator).

Pure data with no simulator imports, so the scenario checks, the access views and the auth store can
all use it without an import cycle.
"""

from __future__ import annotations

# category -> (root, admin, user, audit) privileges, as PVE groups them to build its roles
_PRIV_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "VM": (
        (),
        (
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ),
        (
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ),
        ("VM.Audit", "VM.GuestAgent.Audit"),
    ),
    "Sys": (
        ("Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"),
        ("Sys.Console", "Sys.Syslog"),
        (),
        ("Sys.Audit",),
    ),
    "Datastore": (
        (),
        ("Datastore.Allocate", "Datastore.AllocateTemplate"),
        ("Datastore.AllocateSpace",),
        ("Datastore.Audit",),
    ),
    "SDN": ((), ("SDN.Allocate", "SDN.Audit"), ("SDN.Use",), ("SDN.Audit",)),
    "User": (("Realm.Allocate",), ("User.Modify", "Group.Allocate", "Realm.AllocateUser"), (), ()),
    "Pool": ((), ("Pool.Allocate",), ("Pool.Audit",), ("Pool.Audit",)),
    "Mapping": ((), ("Mapping.Modify",), ("Mapping.Use",), ("Mapping.Audit",)),
}


def _build_roles() -> dict[str, frozenset[str]]:
    everything = {"Permissions.Modify"}
    roles: dict[str, set[str]] = {"NoAccess": set(), "PVEAdmin": set(), "PVEAuditor": set()}
    for cat, (root, admin, user, audit) in _PRIV_GROUPS.items():
        everything.update(root, admin, user, audit)
        roles.setdefault(f"PVE{cat}Admin", set()).update(admin, user, audit)
        roles["PVEAdmin"].update(admin, user, audit)
        if user:
            roles.setdefault(f"PVE{cat}User", set()).update(user, audit)
        roles["PVEAuditor"].update(audit)
    roles["PVEAdmin"].discard("Mapping.Modify")
    roles["PVETemplateUser"] = {"VM.Clone", "VM.Audit"}
    roles["Administrator"] = everything
    return {name: frozenset(privs) for name, privs in sorted(roles.items())}


ROLES: dict[str, frozenset[str]] = _build_roles()
