"""`hf`: a transformers model sampled in-process with a KV cache, batching whatever requests are waiting.

Concurrent `complete` calls are coalesced (`MicroBatcher`) into batches of up to `max_batch`, each run in a
thread so the event loop (and the environments) keep moving. Each request samples from its
own seeded generator, so an episode's tokens do not depend on which other episodes shared its batch. Inside a
batch, rows with a long new prompt segment are prefilled one at a time (no padded attention mask), then all
rows decode together.

Opt-in prefix reuse (`prefix_cache=N`): a multi-turn episode's next prompt starts with its previous prompt and
sampled ids (token-in/token-out guarantees it), so the backend keeps each session's KV (up to N sessions, LRU)
and prefills only what follows the longest common prefix (a user simulator, whose prompts are re-rendered
text, still reuses everything up to its first re-tokenised turn). A new session borrows the common head
(system prompt, tool list) of the most recently kept KV. Rows with different cached lengths share a batch by padding inside the
cache; the attention mask hides the holes. Memory per session is the model's KV for the whole conversation, so
size N to the device.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from eigenfast.llm.base import ChatRequest, Completion, SamplingParams
from eigenfast.llm.batching import MicroBatcher
from eigenfast.llm.template import render_ids, stop_token_ids

_MIN_SHARED = 32  # tokens a new session must share with the latest kept KV to borrow it
_PREFILL_ALONE = 64  # in a batch, a row with more new prompt tokens than this is prefilled by itself


@dataclass
class Past:
    """A session's reusable KV: per layer (keys, values) of shape [1, kv_heads, len(tokens), head_dim]."""

    tokens: list[int]
    kv: list[tuple[Any, Any]]


@dataclass
class _Row:
    prompt: list[int]
    params: SamplingParams
    seed: int | None
    past: Past | None = None  # a session's kept KV ...
    reuse: int = 0  # ... of which this many leading tokens are also the start of `prompt`
    session: str | None = None


def common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix (slice comparisons run in C; binary search when they differ)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _layer_kv(cache: Any, layer: int) -> tuple[Any, Any]:
    if hasattr(cache, "layers"):  # transformers >= 4.56
        return cache.layers[layer].keys, cache.layers[layer].values
    return cache.key_cache[layer], cache.value_cache[layer]


def sample_batch(model: Any, rows: list[_Row], stop_ids: set[int], pad_id: int, default_seed: int = 0,
                 keep_kv: bool = False) -> list[tuple[list[int], list[float], str, Past | None]]:
    """Batched sampling with a KV cache; returns (ids, logprobs, finish_reason, reusable KV) per row.

    Layout of row i: [pad][its cached prefix (c_i)][pad][its new prompt tokens (n_i)] then one column per
    decode step; pads are masked out and positions are per row, so rows with and without a cache mix freely.
    """
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    if len(rows) > 1:
        for r in rows:
            _prefill_alone(model, r, cache_kw)
    b = len(rows)
    cached = [min(r.reuse, len(r.prompt) - 1) if r.past is not None else 0 for r in rows]
    new = [len(r.prompt) - c for r, c in zip(rows, cached, strict=True)]
    big_c, big_n = max(cached), max(new)
    ids = torch.full((b, big_n), pad_id, dtype=torch.long)
    mask = torch.zeros((b, big_c + big_n), dtype=torch.long)
    positions = torch.zeros((b, big_n), dtype=torch.long)
    for i, r in enumerate(rows):
        c, n = cached[i], new[i]
        ids[i, big_n - n:] = torch.tensor(r.prompt[c:], dtype=torch.long)
        mask[i, big_c - c: big_c] = 1
        mask[i, big_c + big_n - n:] = 1
        positions[i, big_n - n:] = torch.arange(c, c + n)
    ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    cache = DynamicCache()
    if big_c:
        for layer in range(len(next(r.past for r in rows if r.past is not None).kv)):
            ref_k, ref_v = next(r.past for r in rows if r.past is not None).kv[layer]
            k = ref_k.new_zeros((b, ref_k.shape[1], big_c, ref_k.shape[3]))
            v = ref_v.new_zeros((b, ref_v.shape[1], big_c, ref_v.shape[3]))
            for i, r in enumerate(rows):
                if cached[i]:
                    pk, pv = r.past.kv[layer]
                    k[i, :, big_c - cached[i]:] = pk[0, :, : cached[i]]
                    v[i, :, big_c - cached[i]:] = pv[0, :, : cached[i]]
            cache.update(k, v, layer)
    gens = []
    for i, r in enumerate(rows):
        g = torch.Generator(device="cpu")
        g.manual_seed(r.seed if r.seed is not None else default_seed + i)
        gens.append(g)
    max_new = max(r.params.max_new_tokens for r in rows)
    out_ids: list[list[int]] = [[] for _ in rows]
    out_lp: list[list[float]] = [[] for _ in rows]
    finish = ["length"] * b
    alive = [r.params.max_new_tokens > 0 for r in rows]
    step_ids = ids
    with torch.inference_mode():
        for _ in range(max_new):
            if not any(alive):
                break
            out = model(input_ids=step_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                        logits_to_keep=1, **{cache_kw: cache})
            cache = out[cache_kw]
            logits = out.logits[:, -1, :].float().cpu()
            toks, lps = _sample_rows(logits, rows, gens, alive)
            nxt = [tok if alive[i] else pad_id for i, tok in enumerate(toks)]
            for i, r in enumerate(rows):
                if not alive[i]:
                    continue
                tok = toks[i]
                out_ids[i].append(tok)
                out_lp[i].append(lps[i])
                if tok in stop_ids:
                    alive[i], finish[i] = False, "stop"
                elif len(out_ids[i]) >= r.params.max_new_tokens:
                    alive[i] = False
            step_ids = torch.tensor(nxt, dtype=torch.long).view(b, 1).to(device)
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=device)], dim=1)
    pasts: list[Past | None] = [None] * b
    if keep_kv and out_ids and cache.get_seq_length() > 0:
        layers = len(cache.layers) if hasattr(cache, "layers") else len(cache.key_cache)
        for i, r in enumerate(rows):
            fed = max(len(out_ids[i]) - 1, 0)  # the last sampled token was never fed back
            c, n = cached[i], new[i]
            keep = [big_c - c, big_c, big_c + big_n - n, big_c + big_n + fed]
            kv = []
            for layer in range(layers):
                k, v = _layer_kv(cache, layer)
                kv.append(tuple(torch.cat([t[i: i + 1, :, keep[0]:keep[1]], t[i: i + 1, :, keep[2]:keep[3]]], dim=2)
                                .clone() for t in (k, v)))
            pasts[i] = Past(r.prompt + out_ids[i][:fed], kv)
    return [(out_ids[i], out_lp[i], finish[i], pasts[i]) for i in range(b)]


def _prefill_alone(model: Any, row: _Row, cache_kw: str) -> None:
    """Prefill a row's long new segment by itself, so the batch never pads long prompts: a padded batch needs
    a [rows, len, len] attention mask (slow, memory-bound), one unpadded row takes the fused causal kernel.
    Afterwards the row's `past` covers all of its prompt but the last token."""
    import torch
    from transformers import DynamicCache

    c = min(row.reuse, len(row.prompt) - 1) if row.past is not None else 0
    if len(row.prompt) - c <= _PREFILL_ALONE:
        return
    device = next(model.parameters()).device
    cache = DynamicCache()
    if c:
        for layer, (k, v) in enumerate(row.past.kv):
            cache.update(k[:, :, :c], v[:, :, :c], layer)
    end = len(row.prompt) - 1
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([row.prompt[c:end]], device=device),
                    position_ids=torch.arange(c, end, device=device)[None], use_cache=True, logits_to_keep=1,
                    **{cache_kw: cache})
    cache = out[cache_kw]
    layers = len(cache.layers) if hasattr(cache, "layers") else len(cache.key_cache)
    row.past, row.reuse = Past(row.prompt[:end], [_layer_kv(cache, i) for i in range(layers)]), end


def _sample_rows(logits: Any, rows: list[_Row], gens: list[Any], alive: list[bool]) -> tuple[list[int], list[float]]:
    """One token per live row: softmax/top-p batched, the draw per row from that row's own generator."""
    import torch

    temps = torch.tensor([r.params.temperature if r.params.temperature > 0 else 1.0 for r in rows])
    logp = torch.log_softmax(logits / temps[:, None], -1)
    probs = logp.exp()
    top_p = torch.tensor([r.params.top_p for r in rows])
    if bool((top_p < 1.0).any()):
        sorted_p, order = probs.sort(-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p >= top_p[:, None]
        probs = probs.scatter(-1, order, sorted_p.masked_fill(drop, 0.0))
    greedy = logits.argmax(-1).tolist()
    toks = [0] * len(rows)
    for i, r in enumerate(rows):
        if alive[i]:
            toks[i] = greedy[i] if r.params.temperature <= 0 else int(torch.multinomial(probs[i], 1, generator=gens[i]))
    chosen = logp.gather(-1, torch.tensor(toks)[:, None])[:, 0].tolist()
    return toks, chosen


class HFBackend:
    """Token-in/token-out backend over a local transformers checkpoint (`hf:PATH`)."""

    def __init__(self, path: str, *, device: str = "cpu", dtype: str | None = None, max_batch: int = 32,
                 seed: int = 0, threads: int | None = None, prefix_cache: int = 0, model: Any = None,
                 tokenizer: Any = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = f"hf:{path}"
        self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
        if model is None:
            torch_dtype = getattr(torch, dtype) if dtype else None
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        self.model = model.to(device).eval()
        if device == "cpu":
            # Small matmuls on a busy CPU crawl with several OpenMP threads (spin-waits): one thread is ~20x
            # faster for tiny models. Note torch's thread count is process-wide.
            small = sum(p.numel() for p in self.model.parameters()) < 50_000_000
            torch.set_num_threads(threads or (1 if small else torch.get_num_threads()))
        self.stop_ids = stop_token_ids(self.tokenizer, getattr(self.model, "generation_config", None))
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else next(iter(self.stop_ids)))
        self.max_batch = max_batch
        self.seed = seed
        self.generated_tokens = 0
        self.prefix_cache = prefix_cache
        self.reused_tokens = 0  # prompt tokens served from a session's kept KV instead of prefilled
        self._pasts: OrderedDict[str, Past] = OrderedDict()
        self._latest: Past | None = None  # read-only; new sessions borrow its KV for their shared head
        self._batcher: MicroBatcher[_Row, Completion] = MicroBatcher(self._run, max_batch)

    @property
    def batches(self) -> int:
        return self._batcher.batches

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = request.prompt_ids
        if prompt is None:
            prompt = render_ids(self.tokenizer, request.messages, request.tools, add_generation_prompt=True)
        return await self._batcher.submit(_Row(list(prompt), request.params, request.seed,
                                               session=request.session if self.prefix_cache else None))

    def _run(self, rows: list[_Row]) -> list[Completion]:
        for row in rows:
            if row.session is None:
                continue
            past = self._pasts.pop(row.session, None)
            if past is not None:
                row.past, row.reuse = past, common_prefix(past.tokens, row.prompt)
            elif self._latest is not None:  # a new conversation: share the common head (system prompt, tools)
                reuse = common_prefix(self._latest.tokens, row.prompt)
                if reuse >= _MIN_SHARED:
                    row.past, row.reuse = self._latest, reuse
            if row.past is not None:
                self.reused_tokens += min(row.reuse, len(row.prompt) - 1)
        results = sample_batch(self.model, rows, self.stop_ids, self.pad_id, self.seed,
                               keep_kv=any(r.session is not None for r in rows))
        out = []
        for row, (ids, lps, finish, past) in zip(rows, results, strict=True):
            row.past = None
            if row.session is not None and past is not None:
                self._pasts[row.session] = self._latest = past
                while len(self._pasts) > self.prefix_cache:
                    self._pasts.popitem(last=False)
            self.generated_tokens += len(ids)
            text = self.tokenizer.decode(ids[:-1] if finish == "stop" else ids, skip_special_tokens=False)
            out.append(Completion(text=text, finish_reason=finish, token_ids=ids,
                                  logprobs=lps if row.params.logprobs else None, prompt_ids=row.prompt))
        return out

    async def close(self) -> None:
        await self._batcher.wait_idle()
