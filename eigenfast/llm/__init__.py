"""Chat backends (`hf`, `openai`, `vllm`) behind one protocol, chat templating and the tool-call codec.

Importing this package is cheap: torch, transformers, httpx and vLLM load only when a backend is built.
"""

from eigenfast.llm.base import BackendError, ChatBackend, ChatRequest, Completion, SamplingParams
from eigenfast.llm.codec import (
    ParsedTurn,
    parse_completion,
    parse_native,
    render_tool_calls,
    to_chat_messages,
)
from eigenfast.llm.spec import BackendSpec, load_backend, parse_spec

__all__ = [
    "BackendError", "BackendSpec", "ChatBackend", "ChatRequest", "Completion", "ParsedTurn", "SamplingParams",
    "load_backend", "parse_completion", "parse_native", "parse_spec", "render_tool_calls", "to_chat_messages",
]
