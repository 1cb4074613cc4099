"""`hf`: a transformers model sampled in-process with a KV cache, batching whatever requests are waiting.

Concurrent `complete` calls are coalesced (`MicroBatcher`) into batches of up to `max_batch`, each run in a
thread so the event loop (and the environments) keep moving. Each request samples from its
own seeded generator, so an episode's tokens do not depend on which other episodes shared its batch.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from eigenfast.llm.base import ChatRequest, Completion, SamplingParams
from eigenfast.llm.batching import MicroBatcher
from eigenfast.llm.template import render_ids, stop_token_ids


@dataclass
class _Row:
    prompt: list[int]
    params: SamplingParams
    seed: int | None


def sample_batch(model: Any, rows: list[_Row], stop_ids: set[int], pad_id: int,
                 default_seed: int = 0) -> list[tuple[list[int], list[float], str]]:
    """Left-padded batched sampling with a KV cache; returns (ids, logprobs, finish_reason) per row."""
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    b = len(rows)
    width = max(len(r.prompt) for r in rows)
    ids = torch.full((b, width), pad_id, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r.prompt):] = torch.tensor(r.prompt, dtype=torch.long)
        mask[i, width - len(r.prompt):] = 1
    ids, mask = ids.to(device), mask.to(device)
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
    cache = DynamicCache()
    # transformers 5 renamed `past_key_values` to `cache`; accept both so older versions keep working.
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    step_ids, positions = ids, (mask.cumsum(-1) - 1).clamp(min=0)
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
    return [(out_ids[i], out_lp[i], finish[i]) for i in range(b)]


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
                 seed: int = 0, threads: int | None = None, model: Any = None, tokenizer: Any = None):
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
        self._batcher: MicroBatcher[_Row, Completion] = MicroBatcher(self._run, max_batch)

    @property
    def batches(self) -> int:
        return self._batcher.batches

    async def complete(self, request: ChatRequest) -> Completion:
        prompt = request.prompt_ids
        if prompt is None:
            prompt = render_ids(self.tokenizer, request.messages, request.tools, add_generation_prompt=True)
        return await self._batcher.submit(_Row(list(prompt), request.params, request.seed))

    def _run(self, rows: list[_Row]) -> list[Completion]:
        out = []
        for row, (ids, lps, finish) in zip(rows, sample_batch(self.model, rows, self.stop_ids, self.pad_id,
                                                               self.seed), strict=True):
            self.generated_tokens += len(ids)
            text = self.tokenizer.decode(ids[:-1] if finish == "stop" else ids, skip_special_tokens=False)
            out.append(Completion(text=text, finish_reason=finish, token_ids=ids,
                                  logprobs=lps if row.params.logprobs else None, prompt_ids=row.prompt))
        return out

    async def close(self) -> None:
        await self._batcher.wait_idle()
