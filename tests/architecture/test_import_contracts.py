"""Layering contracts, read from the source files' import statements (runs in `make test`).

- The product (`proxlb`) never imports the simulator (`proxlb_sim`): the scheduler must run, and
  ship, without it.
- The pure core (`proxlb.domain`, `proxlb.rules`, `proxlb.planning`) imports nothing from the edges
  (api, collect, execute, service, report, cli, config loading) and nothing that does I/O or reads
  the clock (proxmoxer, requests, socket, time, os, logging of decisions is allowed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
CORE = ("proxlb.domain", "proxlb.rules", "proxlb.planning")
EDGES = (
    "proxlb.api",
    "proxlb.collect",
    "proxlb.execute",
    "proxlb.service",
    "proxlb.report",
    "proxlb.cli",
    "proxlb_sim",
)
IO_MODULES = ("proxmoxer", "requests", "urllib3", "socket", "time", "os", "subprocess", "sqlite3")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """Every module `path` imports (absolute, with relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _files(package: str) -> list[Path]:
    root = SRC / package.replace(".", "/")
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def test_the_product_never_imports_the_simulator() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in _files("proxlb")
        for line, name in _imports(path)
        if _within(name, ("proxlb_sim",))
    ]
    assert offenders == []


@pytest.mark.parametrize("package", CORE)
def test_the_pure_core_imports_no_edge_and_no_io(package: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in _files(package)
        for line, name in _imports(path)
        if _within(name, EDGES) or _within(name, IO_MODULES)
    ]
    assert offenders == []


def test_the_contract_sees_a_violation(tmp_path: Path) -> None:
    """The walker itself works: a planted edge import is reported (guards against a silent no-op)."""
    planted = SRC / "proxlb" / "planning" / "cycle.py"
    names = [name for _, name in _imports(planted)]
    assert any(name.startswith("proxlb.domain") for name in names)
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom ..api.client import connect\n")
    found = _imports(bad, "proxlb.planning.bad")
    assert [n for _, n in found if _within(n, EDGES) or _within(n, IO_MODULES)] == [
        "time",
        "proxlb.api.client",
        "proxlb.api.client.connect",
    ]
