"""One API route: method, path template, handler and parameter spec. Endpoint-family modules declare
their own `ROUTES` tuples with `route()`; `routes.py` joins them into the table `dispatch()` walks.

Invariants: a template's `{name}` segments match one path segment (raw UPIDs included); routes under
`/nodes/{node}` are proxied (the node must exist and be online). No simulator state is imported here,
so every family module can declare routes without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proxlb_sim.params import Spec

Handler = Callable[[Any], Any]  # takes a `handlers.Request`


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    spec: Spec
    proxied: bool


def route(method: str, template: str, handler: Handler, spec: Spec | None = None) -> Route:
    """A route; `spec` lists the query/body parameters (path segments are added by `dispatch`)."""
    pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    return Route(
        method, template, re.compile(f"^{pattern}$"), handler, spec or {}, template.startswith("/nodes/{")
    )
