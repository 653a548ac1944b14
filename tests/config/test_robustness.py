"""Any YAML document yields a config or a list of problems — never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proxlb.config.load import evaluate_mapping

_KEYS = st.sampled_from(
    [
        "proxmox_api", "hosts", "user", "pass", "token_id", "token_secret", "balancing", "method", "pools",
        "psi", "nodes", "guests", "memory", "node_resource_reserve", "defaults", "service", "schedule",
        "proxmox_cluster", "maintenance_nodes_schedule", "schedules", "pre-migration", "psi_thresholds", "x",
    ]
)  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True), st.text(max_size=8)
)
_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_KEYS | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(document=_VALUES)
def test_any_document_gives_config_or_problems(document: Any) -> None:
    found = evaluate_mapping(document, Path("/nonexistent/proxlb.yaml"), {})
    assert (found.config is None) == bool(found.problems)
    assert all(isinstance(p, str) and p for p in found.problems + found.warnings)
