"""Hypothesis profiles, chosen with HYPOTHESIS_PROFILE before any test module builds its settings.

- `gate` (default; `make test` and CI): derandomized, so the property tests try the same examples on
  every run and the gate cannot flip on a lucky or unlucky draw.
- `explore` (`make fuzz`): random examples and more of them, to look for new counterexamples. A find
  there becomes a regression test (an explicit example or a unit test), then is fixed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("gate", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=600, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gate"))


# -- Real-world checks that did not run are said loudly at the end of the run ---------------------
# The third-party clients, upstream ProxLB, Chromium and Prometheus install best effort; when one is
# missing its tests skip. A quiet "s" in the progress line is easy to miss, so the summary names them.
REAL_WORLD = {
    "tests/clients/test_prometheus_pve_exporter.py": "prometheus-pve-exporter",
    "tests/clients/test_pvecontrol.py": "pvecontrol",
    "tests/upstream/": "upstream ProxLB 2.3.0",
    "tests/e2e/test_report_chromium.py": "Chromium",
    "tests/e2e/test_prometheus_scrape.py": "Prometheus",
}


def _real_world_tool(nodeid: str) -> str | None:
    return next((tool for prefix, tool in REAL_WORLD.items() if nodeid.startswith(prefix)), None)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped: dict[str, tuple[int, str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        tool = _real_world_tool(getattr(report, "nodeid", ""))
        if tool is None:
            continue
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        count, _ = skipped.get(tool, (0, reason))
        skipped[tool] = (count + 1, reason.removeprefix("Skipped: "))
    if not skipped:
        return
    terminalreporter.section("REAL-WORLD CHECKS NOT RUN", sep="!", yellow=True, bold=True)
    for tool, (count, reason) in sorted(skipped.items()):
        terminalreporter.write_line(f"{tool}: {count} test(s) skipped: {reason}", yellow=True, bold=True)


# -- Host-wide cluster locks (service/instance_lock.py) go to a directory of each test's own ------
@pytest.fixture(autouse=True)
def _own_cluster_lock_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests (and the CLI processes they start) acting on the same simulated cluster in parallel
    must not hold each other's cluster lock; a test that needs two instances to meet runs both in it."""
    monkeypatch.setenv("PROXLB_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))
