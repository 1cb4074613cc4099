"""`eigenfast config show`: load a config with overrides and print the resolved, validated result."""

from __future__ import annotations

import argparse

from eigenfast.cli import UsageError
from eigenfast.config import ConfigError, dump_config, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print the resolved config", description="print the resolved config")
    show.add_argument("file", nargs="?", help="a .yaml/.yml/.toml config (default: built-in defaults)")
    show.add_argument("overrides", nargs="*", metavar="key.sub=value", help="overrides, applied in order")


def run(args: argparse.Namespace) -> int:
    file, overrides = args.file, list(args.overrides)
    if file is not None and "=" in file:  # only overrides were given
        file, overrides = None, [file, *overrides]
    try:
        cfg = load_config(file, overrides)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    print(dump_config(cfg), end="")
    return 0
