"""Backend spec strings: `hf:PATH`, `openai:MODEL@http://host:port/v1`, `vllm:PATH`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from eigenfast.llm.base import ChatBackend

KINDS = ("hf", "openai", "vllm")


@dataclass(frozen=True)
class BackendSpec:
    kind: str
    target: str  # a path (hf, vllm) or a model name (openai)
    base_url: str | None = None


def parse_spec(spec: str) -> BackendSpec:
    """Parse a spec string; raises ValueError naming the spec and what is wrong with it."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in KINDS:
        raise ValueError(f"backend spec {spec!r}: expected one of {', '.join(k + ':...' for k in KINDS)}")
    if not rest:
        raise ValueError(f"backend spec {spec!r}: missing the {'model' if kind == 'openai' else 'path'} after '{kind}:'")
    if kind != "openai":
        return BackendSpec(kind, rest)
    model, at, url = rest.rpartition("@")
    if at and url.startswith(("http://", "https://")):
        if not model:
            raise ValueError(f"backend spec {spec!r}: missing the model name before '@'")
        return BackendSpec(kind, model, url)
    return BackendSpec(kind, rest, os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"))


def resolve_hf_path(target: str) -> str:
    """`tiny` names a random tiny model built locally on first use (smoke tests and demos; nothing is
    downloaded), cached under `$EIGENFAST_CACHE` (default `~/.cache/eigenfast`). Anything else is a path."""
    if target != "tiny":
        return target
    from pathlib import Path

    from eigenfast.llm.tiny import save_tiny_model

    cache = Path(os.environ.get("EIGENFAST_CACHE") or Path.home() / ".cache" / "eigenfast")
    return str(save_tiny_model(cache / "tiny"))


def load_backend(spec: str | BackendSpec, **options: Any) -> ChatBackend:
    """Build a backend from its spec; `options` are the backend's keyword options (from the config)."""
    s = parse_spec(spec) if isinstance(spec, str) else spec
    if s.kind == "hf":
        from eigenfast.llm.hf import HFBackend

        return HFBackend(resolve_hf_path(s.target), **options)
    if s.kind == "openai":
        from eigenfast.llm.openai import OpenAIBackend

        return OpenAIBackend(s.target, s.base_url or "", **options)
    from eigenfast.llm.vllm import VLLMBackend

    return VLLMBackend(s.target, **options)
