"""Rendering conversations through a tokenizer's own chat template, as text or ids."""

from __future__ import annotations

from typing import Any


def render_text(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                *, add_generation_prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"tokenizer {getattr(tokenizer, 'name_or_path', tokenizer)!r} has no chat_template")
    return tokenizer.apply_chat_template(messages, tools=tools or None, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Ids of text that already contains the template's control tokens (no BOS/EOS added)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def render_ids(tokenizer: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
               *, add_generation_prompt: bool) -> list[int]:
    return encode(tokenizer, render_text(tokenizer, messages, tools, add_generation_prompt=add_generation_prompt))


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> set[int]:
    """Ids that end a turn: the tokenizer's EOS plus the model's generation-config EOS ids."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    eos = getattr(generation_config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(i) for i in eos)
    return ids
