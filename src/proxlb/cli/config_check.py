"""`proxlb config check`: validate the file and show it with secrets masked. Exit 0 valid, 1 not."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from proxlb.cli.args import ConfigCheckArgs
from proxlb.config.check import check_config


def run(args: ConfigCheckArgs) -> int:
    result = check_config(Path(args.config), lenient=args.lenient)
    if args.json:
        print(json.dumps(result.to_dict(), indent=4, default=str))
        return 0 if result.ok else 1
    for problem in result.problems:
        print(f"error: {problem}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.ok:
        print(f"{args.config}: configuration is valid")
        if result.config is not None:  # already redacted: secrets appear as ********
            print(yaml.safe_dump(dict(result.config), sort_keys=False), end="")
        return 0
    print(f"{args.config}: {len(result.problems)} problem(s)")
    return 1
