"""Entry point of the zygote: a fresh `python -I -S -B` that pre-imports what checkers use and forks per job.

It is started by the host with an empty environment, fd 0 = job frames, fd 1 = result frames, and the seccomp
program in its config. With the C++ server, this module and a few stdlib modules are all the Python it loads:
fork and exit cost grows with every megabyte the zygote holds, so caches, the job loop and the children's
runner live in C++ (csrc/checker_runtime.h). The pure-Python server keeps them here and in child.py.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys

CODE_SLOTS = 128
CODE_MAX_SPEC_BYTES = 16 * 1024

# Warm imports for checkers: inherited by every child, so a checker's `import re` costs nothing (and works
# even where the child's uid could not read the module file). Kept to what checkers commonly use: each one
# adds to the zygote's size, which every check pays for at fork and exit.
WARM_MODULES = ("collections", "datetime", "functools", "itertools", "json", "math", "re")


def _load_native(path: str):
    """Load the very `_C` file the host loaded: an editable install keeps it outside the source package, and
    the zygote runs without `site`, so a plain import could miss it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("eigenfast._C", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["eigenfast._C"] = module
    return module


def _serve_python(cfg: dict, program: bytes, slots: list[int]) -> None:
    """The pure-Python server (EIGENFAST_DISABLE_EXT=1 or no compiler): caches and runner in child.py."""
    from eigenfast.sandbox import child
    from eigenfast.sandbox.landlock import create_ruleset
    from eigenfast.sandbox.pyserver import serve

    cache = child.PayloadCache(cfg["payload_slots"])
    codes = child.CodeCache(cfg["code_slots"], cfg["code_max_spec"])
    cfg["landlock_fd"], why = create_ruleset(cfg["read_paths"])
    _warn_landlock(why)
    child.rehearse(cfg["max_output"])
    gc.freeze()
    job = serve(0, 1, cfg, program, slots, cache.admit, codes.learn)
    if job is None:  # the host closed the control pipe
        return
    spec, key, payload = job
    child.run(spec, key, payload, cache, codes, cfg["max_output"])


def _warn_landlock(why: str | None) -> None:
    if why:
        print(f"eigenfast sandbox: {why}; checkers can read whatever their uid may", file=sys.stderr)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    os.environ.clear()  # started with env={}, but CPython's locale coercion may have added LC_CTYPE
    os.environ["HOME"] = cfg["workdir"]  # the only variable children see (no NSS lookups for "~")
    cfg.update(code_slots=CODE_SLOTS, code_max_spec=CODE_MAX_SPEC_BYTES)
    program, slots = bytes.fromhex(cfg.pop("program")), cfg.pop("pid_slots")
    layers = bytes.fromhex(cfg.pop("zygote_program")), bytes.fromhex(cfg.pop("child_program")), cfg.pop("child_slots")
    for name in WARM_MODULES:
        importlib.import_module(name)
    if cfg["backend"] != "native":
        _serve_python(cfg, program, slots)
        return
    native = _load_native(cfg["native_file"])
    cfg["landlock_fd"], why = native.sandbox_landlock(cfg["read_paths"])
    _warn_landlock(why)
    gc.collect()  # import-time cycles: pages every fork would copy
    gc.freeze()  # children never scan (and so never copy) the zygote's objects
    native.sandbox_serve(0, 1, cfg, *layers)  # returns when the host closes the control pipe


if __name__ == "__main__":
    main()
