"""A tiny random chat model and a locally trained tokenizer, built from a config: tests, benchmarks and the
embedded demo use it so nothing is ever downloaded.

The tokenizer is byte-level BPE (any text round-trips exactly) with Qwen-style control tokens, and its chat
template renders tools and tool calls the way Qwen2.5/Hermes models do (`<tool_call>{json}</tool_call>`), so the
codec and the token-in/token-out stitching are exercised on the same format real checkpoints use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Control tokens. `<|im_end|>` ends every turn and is the model's stop token.
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]

# Written for this project: Qwen2.5's layout (tools in the system turn, tool results grouped into a user turn
# inside <tool_response>), so that an assistant turn's canonical text is `content` then one
# `<tool_call>\n{json}\n</tool_call>` block per call, separated by newlines.
CHAT_TEMPLATE = (
    "{%- set sys = messages[0].content if messages and messages[0].role == 'system' else none -%}"
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n' + (sys if sys else 'You are a helpful assistant.') + '\\n\\n# Tools\\n\\n' -}}"
    "{{- 'You may call one or more functions. Their signatures are inside <tools></tools>:\\n<tools>' -}}"
    "{%- for t in tools -%}{{- '\\n' + (t | tojson) -}}{%- endfor -%}"
    "{{- '\\n</tools>\\n\\nTo call a function, write a JSON object with its name and arguments inside "
    "<tool_call></tool_call> tags:\\n<tool_call>\\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\\n</tool_call><|im_end|>\\n' -}}"
    "{%- elif sys -%}{{- '<|im_start|>system\\n' + sys + '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' and loop.first -%}"
    "{%- elif m.role == 'tool' -%}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}"
    "{{- '\\n<tool_response>\\n' + m.content + '\\n</tool_response>' -}}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}"
    "{%- elif m.role == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' + (m.content if m.content else '') -}}"
    "{%- for c in (m.tool_calls or []) -%}"
    "{%- set f = c.function if c.function is defined else c -%}"
    "{%- if m.content or not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>\\n{\"name\": \"' + f.name + '\", \"arguments\": ' -}}"
    "{{- (f.arguments if f.arguments is string else f.arguments | tojson) + '}\\n</tool_call>' -}}"
    "{%- endfor -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- else -%}{{- '<|im_start|>' + m.role + '\\n' + (m.content if m.content else '') + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

_CORPUS = """\
Hi! How can I help you today? I would like to change my reservation, please.
Sure, could you give me your user id and the reservation id? My user id is mia_li_3668.
The flight from JFK to SFO on 2024-05-15 is available in economy for 150 dollars.
I want to cancel my order and get a refund to the original payment method.
Your order #W2378156 has been delivered. Would you like to return or exchange an item?
My phone has no mobile data. Please check airplane mode, roaming and the APN settings.
The task status was updated to completed. Is there anything else I can help you with?
{"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}
{"name": "update_task_status", "arguments": {"task_id": "task_2", "status": "completed"}}
{"type": "function", "function": {"name": "search_direct_flight", "description": "Search flights",
"parameters": {"type": "object", "properties": {"origin": {"type": "string"}}, "required": ["origin"]}}}
Error: Reservation not found. ###STOP### ###TRANSFER### ###OUT-OF-SCOPE### transfer_to_human_agents
0123456789 true false null [ ] { } : , . ? ! ' " - _ / @ # $ % & * + = < > ( ) ;
"""


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = 1024
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 32768
    seed: int = 0


def build_tokenizer(vocab_size: int = 1024, corpus: str | None = None):
    """Train a byte-level BPE tokenizer on a small corpus and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = [PAD, IM_START, IM_END, *TOOL_TOKENS]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = corpus if corpus is not None else _CORPUS
    tok.train_from_iterator([line for line in text.splitlines() if line] * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=IM_END, pad_token=PAD,
                                   additional_special_tokens=specials[1:])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(tokenizer, config: TinyConfig = TinyConfig()):
    """A random Qwen2 causal LM sized by `config`, deterministic in `config.seed`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads, max_position_embeddings=config.max_positions,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.convert_tokens_to_ids(PAD),
    )
    torch.manual_seed(config.seed)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    return model.eval()


def save_tiny_model(path: str | Path, config: TinyConfig = TinyConfig(), corpus: str | None = None) -> Path:
    """Build and save a tiny model + tokenizer so that `hf:PATH` loads it. Reuses an existing save."""
    path = Path(path)
    if (path / "config.json").exists() and (path / "tokenizer.json").exists():
        return path
    tokenizer = build_tokenizer(config.vocab_size, corpus)
    model = build_model(tokenizer, config)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(path)
    model.save_pretrained(path)
    return path
