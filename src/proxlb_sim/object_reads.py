"""Read-one objects: a storage definition, a user (and its tokens), a role, a group, a realm, an HA
group and an HA rule.

Shapes and errors follow pve-storage `src/PVE/API2/Storage/Config.pm` (`read`), pve-access-control
`src/PVE/API2/User.pm` (`read_user`, `token_index`, `read_token`), `Role.pm` (`read_role`),
`Group.pm` (`read_group`), `Domains.pm` (`read`), and
pve-ha-manager `src/PVE/API2/HA/Groups.pm` (`read`), `Rules.pm` (`read_rule`). Permissions are checked
as PVE checks them, before the object is looked up.
"""

from __future__ import annotations

import hashlib
from typing import Any

from proxlb_sim import access, ha
from proxlb_sim.handlers import Request, storage_config
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route


def _digest(what: str, r: Request) -> str:
    return hashlib.sha1(f"{what}:{r.cluster.settings.cluster_name}:{r.cluster.version}".encode()).hexdigest()


def storage_read(r: Request) -> dict[str, Any]:
    """`GET /storage/{storage}`: the section plus `storage` and `digest` (needs Datastore.Allocate)."""
    storage = str(r.params["storage"])
    r.cluster.auth.require(r.who, f"/storage/{storage}", "Datastore.Allocate")
    for entry in storage_config(r):
        if entry["storage"] == storage:
            return entry
    raise PveError(500, f"storage '{storage}' does not exist")


def _may_see_user(r: Request, userid: str) -> bool:
    """`userid-group` check: the caller itself, or User.Modify / Sys.Audit on /access/groups."""
    auth = r.cluster.auth
    if r.who.userid == userid:
        return True
    return any(auth.has_priv(r.who, "/access/groups", p) for p in ("User.Modify", "Sys.Audit"))


def user_read(r: Request) -> dict[str, Any]:
    """`GET /access/users/{userid}`: settings, `groups` (list) and `tokens` (map) of one user."""
    userid = str(r.params["userid"])
    if "@" not in userid:
        raise PveError.params({"userid": "value does not look like a valid user name"})
    if not _may_see_user(r, userid):
        raise PveError(403, "Permission check failed (/access/groups, User.Modify|Sys.Audit)")
    c = r.cluster
    tokens = {u.userid: u.tokens for u in c.auth.users.values()}
    for entry in access.users_view(c.auth.section, tokens, True, None):
        if entry["userid"] != userid:
            continue
        out = {k: v for k, v in entry.items() if k not in ("userid", "realm-type", "groups", "tokens")}
        out["groups"] = sorted(g for g in str(entry.get("groups", "")).split(",") if g)
        out["tokens"] = {
            t["tokenid"]: {"expire": t["expire"], "privsep": t["privsep"]} for t in entry.get("tokens", [])
        }
        return out
    raise PveError(500, f"no such user ('{userid}')")


def _user_tokens(r: Request) -> dict[str, Any]:
    userid = str(r.params["userid"])
    if not _may_see_user(r, userid):
        raise PveError(403, "Permission check failed (/access/groups, User.Modify|Sys.Audit)")
    tokens: dict[str, Any] = user_read(r)["tokens"]
    return tokens


def token_list(r: Request) -> list[dict[str, Any]]:
    """`GET /access/users/{userid}/token`."""
    return [{"tokenid": tid, **info} for tid, info in sorted(_user_tokens(r).items())]


def token_read(r: Request) -> dict[str, Any]:
    """`GET /access/users/{userid}/token/{tokenid}` (never the secret)."""
    tokenid = str(r.params["tokenid"])
    tokens = _user_tokens(r)
    if tokenid not in tokens:
        raise PveError(500, f"no such token '{tokenid}' for user '{r.params['userid']}'")
    return dict(tokens[tokenid])


def role_read(r: Request) -> dict[str, int]:
    """`GET /access/roles/{roleid}`: privilege → 1."""
    roleid = str(r.params["roleid"])
    for role in access.roles_view(r.cluster.auth.section):
        if role["roleid"] == roleid:
            return {p: 1 for p in str(role["privs"]).split(",") if p}
    raise PveError(500, f"role '{roleid}' does not exist")


def group_read(r: Request) -> dict[str, Any]:
    """`GET /access/groups/{groupid}`: `members` (list) and `comment`."""
    groupid = str(r.params["groupid"])
    privs = ("User.Modify", "Sys.Audit", "Group.Allocate")
    if not any(r.cluster.auth.has_priv(r.who, f"/access/groups/{groupid}", p) for p in privs):
        raise PveError(403, f"Permission check failed (/access/groups/{groupid}, {'|'.join(privs)})")
    for group in r.cluster.auth.section.groups:
        if group.groupid == groupid:
            out: dict[str, Any] = {"members": sorted(group.members)}
            if group.comment is not None:
                out["comment"] = group.comment
            return out
    raise PveError(500, f"group '{groupid}' does not exist")


def domain_read(r: Request) -> dict[str, Any]:
    """`GET /access/domains/{realm}`: the realm's section plus the config `digest`."""
    realm = str(r.params["realm"])
    privs = ("Realm.Allocate", "Sys.Audit")
    if not any(r.cluster.auth.has_priv(r.who, "/access/realm", p) for p in privs):
        raise PveError(403, f"Permission check failed (/access/realm, {'|'.join(privs)})")
    for entry in access.domains_view():
        if entry["realm"] == realm:
            out = {k: v for k, v in entry.items() if k != "realm"}
            if realm == "pam":
                out["default"] = 0
            out["digest"] = _digest("domains", r)
            return out
    raise PveError(500, f"domain '{realm}' does not exist")


def ha_group_read(r: Request) -> dict[str, Any]:
    """`GET /cluster/ha/groups/{group}`: PVE 8 answers the group; PVE 9 refuses once migrated."""
    r.cluster.auth.require(r.who, "/", "Sys.Audit")
    name = str(r.params["group"])
    if r.cluster.all_pve9:
        raise PveError(500, "cannot read group: ha groups have been migrated to rules")
    for entry in ha.ha_groups(r.cluster):
        if entry["group"] == name:
            return entry
    raise PveError(500, f"no such ha group '{name}'")


def ha_rule_read(r: Request) -> dict[str, Any]:
    """`GET /cluster/ha/rules/{rule}` (PVE 9)."""
    name = str(r.params["rule"])
    if not r.cluster.api_node.pve9:
        raise PveError(501, f"Method 'GET /cluster/ha/rules/{name}' not implemented")
    r.cluster.auth.require(r.who, "/", "Sys.Audit")
    for entry in ha.ha_rules(r.cluster, None, None):
        if entry["rule"] == name:
            return entry
    raise PveError(500, f"no such ha rule '{name}'")


ROUTES: tuple[Route, ...] = (
    route("GET", "/storage/{storage}", storage_read),
    route("GET", "/access/users/{userid}", user_read),
    route("GET", "/access/users/{userid}/token", token_list),
    route("GET", "/access/users/{userid}/token/{tokenid}", token_read),
    route("GET", "/access/roles/{roleid}", role_read),
    route("GET", "/access/groups/{groupid}", group_read),
    route("GET", "/access/domains/{realm}", domain_read),
    route("GET", "/cluster/ha/groups/{group}", ha_group_read),
    route("GET", "/cluster/ha/rules/{rule}", ha_rule_read),
)
