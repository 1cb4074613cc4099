"""`eigenfast eval SUBCOMMAND`: grade agents the way tau²-bench does.

Each subcommand lives in its own module with `add_arguments(parser)` and `run(args) -> int`, registered in
`SUBCOMMANDS` (one line each), exactly as top-level commands are in `eigenfast/cli.py`.
"""

from __future__ import annotations

import argparse
import importlib

from eigenfast.cli import UsageError

# name -> (module, one-line help); modules import lazily.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "replay-gold": ("eigenfast.commands.eval_replay_gold",
                    "replay each task's gold actions and grade the episode (with negative controls)"),
    "tau2": ("eigenfast.commands.eval_tau2", "k trials per task with an agent and a user simulator; pass^k"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_eval_module=module)


def run(args: argparse.Namespace) -> int:
    module = getattr(args, "_eval_module", None)
    if module is None:
        raise UsageError(f"missing subcommand (one of: {', '.join(SUBCOMMANDS)})")
    return int(importlib.import_module(module).run(args) or 0)
