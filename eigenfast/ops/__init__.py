"""Fast paths, each with a plain reference twin. Names resolve lazily so that importing `eigenfast.ops`
pulls in torch only for the torch ops, and numpy only for the native ones."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "token_logprobs": "eigenfast.ops.logprob",
    "linear_token_logprobs": "eigenfast.ops.logprob",
    "grpo_loss": "eigenfast.ops.grpo_loss",
    "pack_sequences": "eigenfast.ops.packing",
    "balance_partitions": "eigenfast.ops.packing",
    "build_packed_batch": "eigenfast.ops.packing",
    "PackPlan": "eigenfast.ops.packing",
    "group_advantages": "eigenfast.ops.advantages",
    "dynamic_filter": "eigenfast.ops.advantages",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eigenfast.ops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
