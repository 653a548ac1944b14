"""Broken YAML (#20 item 9: three of upstream's documented snippets are not valid YAML) is reported with
the line, the column and what YAML expected there in plain words, never the file's text."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxlb.config.check import check_config


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        # a key indented deeper than its sibling (a common copy-paste slip)
        ("balancing:\n  enable: true\n   balanciness: 10\n", 3, "indented deeper than the key above"),
        ("balancing:\n\tenable: true\n", 2, "indent with spaces only"),
        ("proxmox_api:\n  hosts: [pve1, pve2\n", 3, "a [list] that is not closed"),
        (
            "balancing:\n  pools:\n    dev:\n      type: affinity\n     pin: [pve1]\n",
            5,
            "line up the indentation",
        ),
    ],
)
def test_yaml_error_names_line_and_what_was_expected(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = tmp_path / "proxlb.yaml"
    path.write_text(text)
    [problem] = check_config(path, {}).problems
    assert f"YAML syntax error at line {line}, column" in problem
    assert says in problem
    assert "\n" not in problem
