"""Entry point of the zygote: a fresh `python -I -S -B` that pre-imports what checkers use and forks per job.

It is started by the host with an empty environment, fd 0 = job frames, fd 1 = result frames. Decoded
payloads admitted to the cache live here, so each child inherits them copy-on-write instead of decoding again.
"""

from __future__ import annotations

import json
import sys

# Warm imports for checkers (inherited by every child, so a checker's `import re` is free).
import collections  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import functools  # noqa: F401
import itertools  # noqa: F401
import math  # noqa: F401
import re  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import typing  # noqa: F401

import msgspec

from eigenfast.sandbox import child, policy
from eigenfast.sandbox.protocol import CACHE_SLOTS


class PayloadCache(dict):
    """Decoded payloads by key, first-in first-out over CACHE_SLOTS (the host mirrors the same order)."""

    def admit(self, key: bytes, payload: bytes) -> None:
        if key in self:
            return
        self[key] = msgspec.msgpack.decode(payload)
        while len(self) > CACHE_SLOTS:
            del self[next(iter(self))]


def main() -> None:
    cfg = json.loads(sys.argv[1])
    program, slots = policy.build()
    cache = PayloadCache()
    if cfg["backend"] == "native":
        from eigenfast import _ext

        serve = _ext.require_group("sandbox").sandbox_serve
    else:
        from eigenfast.sandbox.pyserver import serve
    job = serve(0, 1, cfg, program, slots, cache.admit)
    if job is None:  # the host closed the control pipe
        return
    spec, key, payload = job
    child.run(spec, key, payload, cache, cfg["max_output"])


if __name__ == "__main__":
    main()
