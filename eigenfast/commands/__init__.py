"""Subcommands of the `eigenfast` CLI, one module each."""
