"""The `eigenfast` command. Each subcommand lives in `eigenfast/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`; this module only wires them and maps errors to exit codes
(0 ok, 1 failure, 2 bad usage)."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules import lazily so `eigenfast --help` stays instant.
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("eigenfast.commands.doctor", "show which fast paths are active and why not"),
    "eval": ("eigenfast.commands.eval", "grade agents as tau²-bench does (replay-gold, ...)"),
    "rollout": ("eigenfast.commands.rollout", "run agent/user-simulator episodes on a domain, resumably"),
    "config": ("eigenfast.commands.config", "show a resolved config (file + key=value overrides)"),
}


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eigenfast", description="Verified synthetic data and verifiable-reward RL for tool-using agents."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        importlib.import_module(module).add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except UsageError as exc:
        print(f"eigenfast {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line instead of a traceback; EIGENFAST_DEBUG=1 shows it
        import os

        if os.environ.get("EIGENFAST_DEBUG"):
            raise
        print(f"eigenfast {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    # Re-import so `python -m eigenfast.cli` shares one UsageError class with the subcommands.
    from eigenfast.cli import main as _main

    sys.exit(_main())
