"""Parse `/cluster/options` `crs` and the HA resources' `auto-rebalance` flags. Pure.

PVE's API returns `crs` as an object of its property-string keys (`ha`, `ha-rebalance-on-start`,
`ha-auto-rebalance`, `ha-auto-rebalance-threshold`, `-method`, `-hold-duration`, `-margin`); a raw
property string ("ha=static,ha-auto-rebalance=1") is accepted too. Odd values keep PVE's default
and add one sentence to the caller's `warnings`.
"""

from __future__ import annotations

from proxlb.collect.ha import parse_sid
from proxlb.collect.raw import as_flag, as_float, as_int, as_object, as_str, objects, split_list
from proxlb.domain import CrsOptions, VmId


def _crs_fields(value: object) -> dict[str, object]:
    if isinstance(value, dict):
        return dict(value)
    out: dict[str, object] = {}
    for part in split_list(value, ","):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip()] = val.strip()
        else:  # the default key of the property string is `ha`
            out["ha"] = key.strip()
    return out


def parse_crs(data: object, warnings: list[str]) -> CrsOptions:
    """`/cluster/options` → CrsOptions (known=True), with PVE's defaults for absent keys."""
    crs = _crs_fields(as_object(data).get("crs"))
    default = CrsOptions()
    threshold = as_float(crs.get("ha-auto-rebalance-threshold"))
    hold = as_int(crs.get("ha-auto-rebalance-hold-duration"))
    margin = as_float(crs.get("ha-auto-rebalance-margin"))
    for key, raw, parsed in (
        ("ha-auto-rebalance-threshold", crs.get("ha-auto-rebalance-threshold"), threshold),
        ("ha-auto-rebalance-hold-duration", crs.get("ha-auto-rebalance-hold-duration"), hold),
        ("ha-auto-rebalance-margin", crs.get("ha-auto-rebalance-margin"), margin),
    ):
        if raw is not None and parsed is None:
            warnings.append(f"/cluster/options crs: {key} {raw!r} is not a number; PVE's default used")
    return CrsOptions(
        ha=as_str(crs.get("ha")) or default.ha,
        rebalance_on_start=as_flag(crs.get("ha-rebalance-on-start")),
        auto_rebalance=as_flag(crs.get("ha-auto-rebalance")),
        auto_rebalance_threshold=threshold if threshold is not None else default.auto_rebalance_threshold,
        auto_rebalance_method=as_str(crs.get("ha-auto-rebalance-method")) or default.auto_rebalance_method,
        auto_rebalance_hold_duration=hold if hold is not None else default.auto_rebalance_hold_duration,
        auto_rebalance_margin=margin if margin is not None else default.auto_rebalance_margin,
        known=True,
    )


def parse_auto_rebalance_off(data: object) -> frozenset[VmId]:
    """`/cluster/ha/resources` → the guests whose HA resource has `auto-rebalance` 0 (opted out)."""
    off: set[VmId] = set()
    for entry in objects(data):
        vmid = parse_sid(as_str(entry.get("sid")) or "")
        flag = entry.get("auto-rebalance")
        if vmid is not None and flag is not None and not as_flag(flag):
            off.add(VmId(vmid))
    return frozenset(off)


def parse_recent_migrations(data: object) -> dict[VmId, float]:
    """`/cluster/tasks` → vmid → end (epoch) of its latest successful migration task (qmigrate or
    vzmigrate), by anyone: PVE's CRM, an admin or ProxLB itself."""
    out: dict[VmId, float] = {}
    for entry in objects(data):
        if entry.get("type") not in ("qmigrate", "vzmigrate") or entry.get("status") != "OK":
            continue
        vmid = as_int(entry.get("id"))
        end = as_float(entry.get("endtime"))
        if vmid is None or end is None:
            continue
        out[VmId(vmid)] = max(end, out.get(VmId(vmid), end))
    return dict(sorted(out.items()))
