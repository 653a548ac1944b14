"""Access-control read views: built-in roles, `/access/users`, `/access/groups`, `/access/acl`,
`/access/roles`, `/access/domains`. Shapes follow pve-access-control `src/PVE/API2/{User,Group,ACL,
Role,Domains}.pm`; the role table follows the privilege groups of `src/PVE/AccessControl.pm`.

Pure functions of the scenario's `auth:` section and the caller's identity; no I/O.
"""

from __future__ import annotations

from typing import Any

from proxlb_sim.roles import ROLES
from proxlb_sim.scenario import AuthSection

__all__ = ["ROLES"]  # re-exported: the role table lives in roles.py


def acl_type(ugid: str) -> str:
    """PVE's ACL entry type: `token` (user@realm!id), `user` (user@realm) or `group`."""
    if "!" in ugid:
        return "token"
    return "user" if "@" in ugid else "group"


def realm_type(userid: str) -> str | None:
    """The realm type of the two realms every PVE cluster has (`pam`, `pve`)."""
    realm = userid.rsplit("@", 1)[-1]
    return realm if realm in ("pam", "pve") else None


def users_view(
    section: AuthSection,
    tokens: dict[str, dict[str, tuple[str, bool, int]]],
    full: bool,
    enabled: bool | None,
) -> list[dict[str, Any]]:
    """`GET /access/users` (sorted by userid; `full` adds groups and tokens)."""
    specs = {u.userid: u for u in section.users}
    member_of: dict[str, list[str]] = {}
    for group in section.groups:
        for member in group.members:
            member_of.setdefault(member, []).append(group.groupid)
    out = []
    for userid in sorted(set(tokens) | set(specs)):
        spec = specs.get(userid)
        entry: dict[str, Any] = {"enable": spec.enable if spec else 1, "expire": spec.expire if spec else 0}
        if spec is not None:
            for key in ("firstname", "lastname", "email", "comment"):
                value = getattr(spec, key)
                if value is not None:
                    entry[key] = value
        if enabled is not None and bool(entry["enable"]) != enabled:
            continue
        if full:
            groups = sorted(member_of.get(userid, []))
            if groups:
                entry["groups"] = ",".join(groups)
            entry["tokens"] = [
                {"tokenid": tid, "expire": expire, "privsep": int(privsep)}
                for tid, (_, privsep, expire) in sorted(tokens.get(userid, {}).items())
            ]
        kind = realm_type(userid)
        if kind:
            entry["realm-type"] = kind
        entry["userid"] = userid
        out.append(entry)
    return out


def groups_view(section: AuthSection) -> list[dict[str, Any]]:
    """`GET /access/groups`."""
    out = []
    for group in sorted(section.groups, key=lambda g: g.groupid):
        entry: dict[str, Any] = {"groupid": group.groupid}
        if group.comment is not None:
            entry["comment"] = group.comment
        entry["users"] = ",".join(sorted(group.members))
        out.append(entry)
    return out


def acl_view(section: AuthSection) -> list[dict[str, Any]]:
    """`GET /access/acl`: one entry per (path, ugid, role); explicit privilege lists show as a
    role named after the entry (PVE stores only roles; a scenario may give privileges directly)."""
    out = []
    for index, acl in enumerate(section.acl):
        out.append(
            {
                "path": acl.path.rstrip("/") or "/",
                "type": acl_type(acl.ugid),
                "ugid": acl.ugid,
                "roleid": acl.roleid or f"SimRole{index}",
                "propagate": acl.propagate,
            }
        )
    return out


def roles_view(section: AuthSection) -> list[dict[str, Any]]:
    """`GET /access/roles`: built-in roles (`special: 1`) and the scenario's explicit privilege sets."""
    out: list[dict[str, Any]] = [
        {"roleid": name, "privs": ",".join(sorted(privs)), "special": 1} for name, privs in ROLES.items()
    ]
    for index, acl in enumerate(section.acl):
        if acl.privs is not None:
            out.append({"roleid": f"SimRole{index}", "privs": ",".join(sorted(acl.privs))})
    return out


def domains_view() -> list[dict[str, Any]]:
    """`GET /access/domains`: the two realms of a fresh cluster."""
    return [
        {"realm": "pam", "type": "pam", "comment": "Linux PAM standard authentication"},
        {"realm": "pve", "type": "pve", "comment": "Proxmox VE authentication server"},
    ]


def acl_privs(privs: list[str] | None, roleid: str | None) -> tuple[str, ...]:
    """The privileges an ACL entry grants (a role's, or the listed ones)."""
    if roleid is not None:
        return tuple(sorted(ROLES.get(roleid, frozenset())))
    return tuple(privs or ())
