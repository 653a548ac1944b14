"""Static checks of the Debian package and container sources (fast; no build).

The builds themselves are `make deb-test` and `make container-test` (root, Debian tools, podman);
these tests catch the mistakes that make those fail late or ship something else than the
repository's files: a Dockerfile missing a file the Python build needs, a changelog out of step
with pyproject.toml, a forked systemd unit, a unit starting a path the package does not install.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        project: dict[str, Any] = tomllib.load(fh)["project"]
    return project


def dockerfile_copied_sources(stage: str) -> set[str]:
    """Sources of the COPY instructions (without --from) in the named stage of the Dockerfile."""
    sources: set[str] = set()
    current = None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not line.startswith(("FROM ", "COPY ")):
            continue
        words = shlex.split(line, comments=True)
        if words[0] == "FROM":
            current = words[3] if len(words) >= 4 and words[2].upper() == "AS" else None
        elif words[0] == "COPY" and current == stage and not any(w.startswith("--from") for w in words):
            sources.update(w.rstrip("/") for w in words[1:-1] if not w.startswith("--"))
    return sources


def test_dockerfile_build_stage_copies_every_file_the_python_build_reads() -> None:
    # The image was never built: pyproject's license-files (LICENSE) was not copied, so
    # `pip install /src` failed in setuptools before anything else.
    project = pyproject()
    needed = {"pyproject.toml", "src", str(project["readme"]), *project["license-files"]}
    assert needed <= dockerfile_copied_sources("build"), needed - dockerfile_copied_sources("build")


def test_debian_changelog_version_is_the_pyproject_version() -> None:
    first = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    match = re.match(r"^proxlb \(([^)]+)\) ", first)
    assert match, first
    assert match.group(1) == pyproject()["version"]


def test_package_ships_the_repository_unit_and_sysusers_file_not_copies() -> None:
    assert (ROOT / "debian" / "proxlb.service").resolve() == ROOT / "packaging" / "proxlb.service"
    assert (ROOT / "debian" / "proxlb.sysusers").resolve() == ROOT / "packaging" / "proxlb.sysusers.conf"


def test_unit_starts_the_command_the_package_installs() -> None:
    unit = (ROOT / "packaging" / "proxlb.service").read_text()
    exec_start = re.search(r"^ExecStart=(\S+)", unit, re.MULTILINE)
    assert exec_start
    links: dict[str, str] = {}  # link -> target
    for line in (ROOT / "debian" / "proxlb.links").read_text().splitlines():
        if line.strip():
            target, link = line.split()
            links[link] = target
    assert exec_start.group(1).lstrip("/") in links
    assert links[exec_start.group(1).lstrip("/")] == "opt/venvs/proxlb/bin/proxlb"


def test_package_runs_as_the_user_the_sysusers_file_creates() -> None:
    unit = (ROOT / "packaging" / "proxlb.service").read_text()
    sysusers = (ROOT / "packaging" / "proxlb.sysusers.conf").read_text()
    assert re.search(r"^User=proxlb$", unit, re.MULTILINE)
    assert re.search(r"^u proxlb ", sysusers, re.MULTILINE)
