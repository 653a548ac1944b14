"""The command line grammar: every upstream flag and every subcommand parses to its own frozen args
value, and each args type has a command in the table."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from proxlb import cli
from proxlb.cli.args import (
    DEFAULT_CONFIG,
    BestNodeArgs,
    ConfigCheckArgs,
    ExplainArgs,
    FailoverArgs,
    ReportArgs,
    RunArgs,
    SnapshotArgs,
    VersionArgs,
    parse_args,
)

CLI_DIR = Path(cli.__file__).parent


def test_upstream_flags_unchanged() -> None:
    args = parse_args(["-c", "/tmp/x.yaml", "-d", "-j"])
    assert isinstance(args, RunArgs)
    assert args.dry_run and args.common.json and args.common.config == "/tmp/x.yaml"
    assert parse_args(["--config", "a", "--dry-run", "--json"]) == args.__class__(
        dataclasses.replace(args.common, config="a"), dry_run=True
    )
    assert isinstance(parse_args(["-v"]), VersionArgs)
    assert isinstance(parse_args(["--version"]), VersionArgs)
    best = parse_args(["-b", "-j", "--memory", "8G", "--tag", "plb_affinity_db"])
    assert isinstance(best, BestNodeArgs)
    assert best.memory_bytes == 8 * 1024**3 and best.tags == ("plb_affinity_db",) and best.common.json
    plain = parse_args([])
    assert isinstance(plain, RunArgs) and plain.common.config == DEFAULT_CONFIG and not plain.dry_run


def test_every_subcommand_parses_to_its_own_type() -> None:
    assert parse_args(["plan", "--curve"]) == RunArgs(
        parse_args(["plan"]).common,
        dry_run=True,
        once=True,
        curve=True,
    )
    assert isinstance(parse_args(["report", "-o", "r.html"]), ReportArgs)
    explained = parse_args(["explain", "101", "-j"])
    assert isinstance(explained, ExplainArgs) and explained.vmid == 101 and explained.common.json
    checked = parse_args(["config", "check", "-c", "f.yaml", "--lenient"])
    assert checked == ConfigCheckArgs("f.yaml", json=False, lenient=True)
    assert isinstance(parse_args(["snapshot", "-o", "s.yaml"]), SnapshotArgs)
    failover = parse_args(["failover", "-j", "-c", "f.yaml"])
    assert isinstance(failover, FailoverArgs) and failover.common.json and failover.common.config == "f.yaml"
    best = parse_args(["best-node", "--memory", "1G", "--type", "ct", "--after-plan"])
    assert isinstance(best, BestNodeArgs) and best.guest_type == "ct" and best.after_plan


def test_options_before_the_subcommand_are_kept() -> None:
    # a value given before the subcommand is not overwritten by the subcommand's default
    best = parse_args(["--memory", "2G", "-c", "p.yaml", "best-node", "--cores", "2"])
    assert isinstance(best, BestNodeArgs)
    assert best.memory_bytes == 2 * 1024**3 and best.cores == 2.0 and best.common.config == "p.yaml"
    plan = parse_args(["--max-migrations", "3", "plan"])
    assert isinstance(plan, RunArgs) and plan.common.max_migrations == 3


def test_args_values_are_frozen_and_every_type_has_a_command() -> None:
    for kind in (RunArgs, ReportArgs, BestNodeArgs, ExplainArgs, ConfigCheckArgs, SnapshotArgs, VersionArgs):
        assert dataclasses.is_dataclass(kind) and kind.__dataclass_params__.frozen
        assert kind in cli.COMMANDS


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--repeat"], ["explain", "12"], ["best-node", "--memory", "lots"], ["nosuch"]):
        with pytest.raises(SystemExit) as exc:
            parse_args(argv)
        assert exc.value.code == 2, argv
    assert "--repeat only goes with --dry-run" in capsys.readouterr().err


def test_no_argparse_private_api() -> None:
    private = {"_actions", "_add_action", "_subparsers", "_option_string_actions", "_get_values"}
    for path in CLI_DIR.glob("*.py"):
        used = {n.attr for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)}
        assert not used & private, path


def test_version_names_ours_and_the_upstream_one(capsys: pytest.CaptureFixture[str]) -> None:
    from proxlb import UPSTREAM_COMPATIBLE, __version__

    for flag in ("-v", "--version"):
        with pytest.raises(SystemExit) as exc:
            cli.main([flag])
        assert exc.value.code == 0
        first = capsys.readouterr().out.splitlines()[0]
        expected = f"ProxLB version: {__version__} (compatible with upstream ProxLB {UPSTREAM_COMPATIBLE})"
        assert first == expected
        assert UPSTREAM_COMPATIBLE == "2.3.0"
