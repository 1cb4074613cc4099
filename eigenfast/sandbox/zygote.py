"""Entry point of the zygote: a fresh `python -I -S -B` that pre-imports what checkers use and forks per job.

It is started by the host with an empty environment, fd 0 = job frames, fd 1 = result frames. Decoded
payloads admitted to the cache live here, so each child inherits them copy-on-write instead of decoding again.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import sys

import msgspec

from eigenfast.sandbox import child, policy
from eigenfast.sandbox.protocol import CACHE_SLOTS

CODE_SLOTS = 128
CODE_MAX_SPEC_BYTES = 16 * 1024

# Warm imports for checkers: inherited by every child, so a checker's `import re` costs nothing (and works
# even where the child's uid could not read the module file).
WARM_MODULES = (
    "bisect", "collections", "copy", "dataclasses", "datetime", "decimal", "difflib", "enum", "fractions",
    "functools", "heapq", "itertools", "math", "operator", "random", "re", "statistics", "string", "textwrap",
    "typing", "unicodedata",
)


class PayloadCache(dict):
    """Decoded payloads by key, first-in first-out over CACHE_SLOTS (the host mirrors the same order)."""

    def admit(self, key: bytes, payload: bytes) -> None:
        if key in self:
            return
        self[key] = msgspec.msgpack.decode(payload)
        while len(self) > CACHE_SLOTS:
            del self[next(iter(self))]
        gc.freeze()


class CodeCache(dict):
    """Compiled checkers by job spec, first-in first-out over CODE_SLOTS; None marks a spec that won't compile.

    Only specs a child already compiled within its limits are learned (the server calls `learn` after a clean
    exit), and only small ones, so the zygote never spends unbounded time on untrusted source. Children
    inherit the code objects; a checker mutating its copy changes only its own child's memory.
    """

    def learn(self, spec: bytes) -> None:
        if spec in self or len(spec) > CODE_MAX_SPEC_BYTES:
            return
        try:
            code = child.compile_checker(child.spec_source(spec))
        except BaseException:  # SyntaxError and friends: the child reports those itself
            code = None
        self[spec] = code
        while len(self) > CODE_SLOTS:
            del self[next(iter(self))]


def _load_native(path: str):
    """Load the very `_C` file the host loaded: an editable install keeps it outside the source package, and
    the zygote runs without `site`, so a plain import could miss it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("eigenfast._C", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["eigenfast._C"] = module
    return module


def main() -> None:
    cfg = json.loads(sys.argv[1])
    os.environ.clear()  # started with env={}, but CPython's locale coercion may have added LC_CTYPE
    os.environ["HOME"] = cfg["workdir"]  # the only variable children see (no NSS lookups for "~")
    for name in WARM_MODULES:
        importlib.import_module(name)
    program, slots = policy.build()
    cache = PayloadCache()
    codes = CodeCache()
    if cfg["backend"] == "native":
        native = _load_native(cfg["native_file"])
        serve, ruleset = native.sandbox_serve, native.sandbox_landlock
    else:
        from eigenfast.sandbox.landlock import create_ruleset as ruleset
        from eigenfast.sandbox.pyserver import serve
    cfg["landlock_fd"], why = ruleset(cfg["read_paths"])
    if why:
        print(f"eigenfast sandbox: {why}; checkers can read whatever their uid may", file=sys.stderr)
    child.rehearse(cfg["max_output"])
    gc.freeze()  # children never scan (and so never copy) the zygote's objects
    job = serve(0, 1, cfg, program, slots, cache.admit, codes.learn)
    if job is None:  # the host closed the control pipe
        return
    spec, key, payload = job
    child.run(spec, key, payload, cache, codes, cfg["max_output"])


if __name__ == "__main__":
    main()
