"""Guest tags → affinity, anti-affinity, ignore and pin constraints. Pure.

Matching is by prefix and case-insensitive (PVE lower-cases tags by default; a tag kept in
upper case by `tag-style` still matches):
- `plb_anti_affinity*` → AntiAffinity group named by the whole (lower-cased) tag;
- `plb_affinity*` → Affinity group named by the whole tag;
- `plb_ignore*` → Exclude;
- `plb_pin_<node>` → NodePin to <node> (case-insensitive); several pin tags = a set of allowed nodes.
  The separator `_` is required: `plb_pinned` or `plb_pin` is not a pin (upstream reads
  `plb_pinned` as a pin to a node named "plb_pinned"); it is reported, like any other `plb_*`
  tag ProxLB does not know, because such a tag is most likely a typo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from proxlb.domain import Guest, RuleSource, SourceKind, VmId

ANTI_AFFINITY_PREFIX = "plb_anti_affinity"
AFFINITY_PREFIX = "plb_affinity"
IGNORE_PREFIX = "plb_ignore"
PIN_PREFIX = "plb_pin_"
KNOWN_TAGS = "plb_affinity_*, plb_anti_affinity_*, plb_ignore*, plb_pin_<node>"


@dataclass
class TagFindings:
    """What the tags of all guests say, collected before building constraints."""

    affinity: dict[str, set[VmId]] = field(default_factory=dict)
    anti_affinity: dict[str, set[VmId]] = field(default_factory=dict)
    ignored: dict[VmId, str] = field(default_factory=dict)  # vmid → first ignore tag
    pins: dict[VmId, tuple[frozenset[str], RuleSource]] = field(default_factory=dict)


def read_tags(guests: tuple[Guest, ...], nodes: Mapping[str, str], warnings: list[str]) -> TagFindings:
    """Classify every `plb_*` tag of every guest (guests in vmid order, tags in their own order)."""
    found = TagFindings()
    for guest in guests:
        pin_nodes: set[str] = set()
        pin_tags: list[str] = []
        for raw in guest.tags:
            tag = raw.strip().lower()
            if not tag.startswith("plb_"):
                continue
            if tag.startswith(ANTI_AFFINITY_PREFIX):
                found.anti_affinity.setdefault(tag, set()).add(guest.vmid)
            elif tag.startswith(AFFINITY_PREFIX):
                found.affinity.setdefault(tag, set()).add(guest.vmid)
            elif tag.startswith(IGNORE_PREFIX):
                found.ignored.setdefault(guest.vmid, tag)
            elif tag.startswith(PIN_PREFIX) and len(tag) > len(PIN_PREFIX):
                wanted = tag[len(PIN_PREFIX) :]
                canonical = nodes.get(wanted)
                if canonical is None:
                    warnings.append(
                        f"guest {guest.vmid} ('{guest.name}'): tag '{raw}' pins to node '{wanted}', "
                        "which is not in the cluster (or is ignored); the tag is ignored"
                    )
                else:
                    pin_nodes.add(canonical)
                    pin_tags.append(tag)
            else:
                hint = " (a pin needs plb_pin_<node>)" if tag.startswith("plb_pin") else ""
                warnings.append(
                    f"guest {guest.vmid} ('{guest.name}'): tag '{raw}' is not a ProxLB tag{hint}; "
                    f"known: {KNOWN_TAGS}"
                )
        if pin_nodes:
            source = RuleSource(SourceKind.TAG, ",".join(sorted(set(pin_tags))))
            found.pins[guest.vmid] = (frozenset(pin_nodes), source)
    return found
