"""HA rule writes (PVE 9): `POST /cluster/ha/rules`, `PUT` and `DELETE /cluster/ha/rules/{rule}`.

Follows pve-ha-manager `src/PVE/API2/HA/Rules.pm` (`create_rule`, `update_rule`, `delete_rule`) and
`src/PVE/HA/Rules*.pm`: Sys.Console on `/`; refused while HA groups are not migrated (a PVE 8 node in
the cluster); `disable: 0` is dropped on write while `strict: 0` is stored as given; resources must be
HA-managed, nodes must exist; a node-affinity rule needs `nodes`, a resource-affinity rule `affinity`
and two resources; `digest` guards updates; deleting an unknown rule succeeds silently. The rules
written here are the ones `GET /cluster/ha/rules`, HA migrations and ProxLB see next.
"""

from __future__ import annotations

import re
from typing import Any

from proxlb_sim.ha import rules_digest
from proxlb_sim.handlers import Request
from proxlb_sim.params import MISSING
from proxlb_sim.pveerror import PveError
from proxlb_sim.routing import Route, route

_KEYS = ("resources", "nodes", "strict", "affinity", "disable", "comment")
CREATE = {
    "rule!": "string", "type!": "enum:node-affinity|resource-affinity", "resources!": "string",
    "nodes": "string", "strict": "boolean", "affinity": "enum:positive|negative", "disable": "boolean",
    "comment": "string",
}  # fmt: skip
UPDATE = {
    "type!": "enum:node-affinity|resource-affinity", "resources": "string", "nodes": "string",
    "strict": "boolean", "affinity": "enum:positive|negative", "disable": "boolean", "comment": "string",
    "delete": "string", "digest": "string",
}  # fmt: skip


def _gate(r: Request, verb: str) -> None:
    r.cluster.auth.require(r.who, "/", "Sys.Console")
    if not r.cluster.all_pve9:
        raise PveError(500, f"cannot {verb} ha rule: ha groups have not been migrated yet")


def _sids(text: str) -> list[str]:
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            out.append(part if ":" in part else f"vm:{part}")
    return sorted(set(out))


def _check_values(r: Request, values: dict[str, Any], failed: str) -> None:
    """Inside PVE's `lock_ha_domain`, so errors carry its prefix (`create ha rule failed: ...`)."""
    c = r.cluster
    if "resources" in values:
        sids = _sids(str(values["resources"]))
        if not sids:
            raise PveError(500, f"{failed}: no resources were specified")
        unmanaged = [s for s in sids if s not in c.ha_resources]
        if unmanaged:
            raise PveError(500, f"{failed}: cannot use unmanaged resource(s) {', '.join(unmanaged)}.")
        values["resources"] = ",".join(sids)
    if "nodes" in values:
        entries = sorted({n.strip() for n in str(values["nodes"]).split(",") if n.strip()})
        values["nodes"] = ",".join(entries)  # stored as PVE encodes it: sorted, priorities kept
        names = sorted({n.split(":")[0] for n in entries})
        if not names:
            raise PveError(500, f"{failed}: no nodes were specified")
        missing = [n for n in names if n not in c.nodes]
        if missing:
            raise PveError(500, f"{failed}: cannot use non-existent node(s) {', '.join(missing)}.")


def _check_complete(rule: dict[str, Any], name: str) -> None:
    """The plugin's required keys, then the feasibility check `Rule 'x' is invalid.`."""
    if rule["type"] == "node-affinity" and not rule.get("nodes"):
        raise PveError.params({"nodes": MISSING})
    if rule["type"] == "resource-affinity":
        if not rule.get("affinity"):
            raise PveError.params({"affinity": MISSING})
        if len(str(rule["resources"]).split(",")) < 2:
            raise PveError(
                400,
                f"Rule '{name}' is invalid.",
                {"resources": "rule must specify at least two resources"},
            )


def _values(r: Request) -> dict[str, Any]:
    out = {k: r.params[k] for k in _KEYS if k in r.params}
    for key in ("strict", "disable"):
        if key in out:
            out[key] = int(bool(out[key]))
    if not out.get("disable"):
        out.pop("disable", None)  # `delete $param->{disable} if !$param->{disable}`
    return out


def create_rule(r: Request) -> None:
    _gate(r, "create")
    name = str(r.params["rule"])
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]{1,127}", name):
        raise PveError.params({"rule": f"invalid format - invalid configuration ID '{name}'"})
    if any(rule["rule"] == name for rule in r.cluster.ha_rules):
        raise PveError(500, f"create ha rule failed: HA rule '{name}' already defined")
    values = _values(r)
    _check_values(r, values, "create ha rule failed")
    rule = {"rule": name, "type": str(r.params["type"]), **values}
    _check_complete(rule, name)
    r.cluster.ha_rules.append(rule)
    r.cluster.bump()


def update_rule(r: Request) -> None:
    _gate(r, "update")
    c = r.cluster
    name = str(r.params["rule"])
    digest = r.params.get("digest")
    if digest and digest != rules_digest(c):
        raise PveError(
            500,
            "update HA rules failed: detected modified configuration - file changed by other user? "
            "Try again.",
        )
    rule = next((x for x in c.ha_rules if x["rule"] == name), None)
    if rule is None:
        raise PveError(500, f"update HA rules failed: HA rule '{name}' does not exist")
    values = _values(r)
    _check_values(r, values, "update HA rules failed")
    deletes = [k for k in re.split(r"[;, ]+", str(r.params.get("delete") or "")) if k]
    for key in deletes:
        if key in ("type", "resources"):
            raise PveError(500, f"update HA rules failed: unable to delete required option '{key}'")
    updated = {k: v for k, v in rule.items() if k not in deletes}
    updated.update(values)
    _check_complete(updated, name)
    rule.clear()
    rule.update(updated)
    c.bump()


def delete_rule(r: Request) -> None:
    r.cluster.auth.require(r.who, "/", "Sys.Console")
    name = str(r.params["rule"])
    r.cluster.ha_rules[:] = [x for x in r.cluster.ha_rules if x["rule"] != name]
    r.cluster.bump()


ROUTES: tuple[Route, ...] = (
    route("POST", "/cluster/ha/rules", create_rule, CREATE),
    route("PUT", "/cluster/ha/rules/{rule}", update_rule, UPDATE),
    route("DELETE", "/cluster/ha/rules/{rule}", delete_rule),
)
