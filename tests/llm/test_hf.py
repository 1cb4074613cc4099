import asyncio

import pytest
import torch

from eigenfast.llm.base import ChatRequest, SamplingParams
from eigenfast.llm.hf import HFBackend
from eigenfast.llm.template import render_ids


@pytest.fixture(scope="module")
def backend(tiny_path):
    return HFBackend(str(tiny_path))


def _req(i, n=12, seed=None, temperature=1.0):
    # odd rows are long enough to be prefilled alone inside a batch, even rows share the padded prefill
    return ChatRequest(messages=[{"role": "user", "content": "hello " * (i + 1 + 40 * (i % 2))}],
                       params=SamplingParams(max_new_tokens=n, temperature=temperature), seed=seed)


def _reference_logprobs(model, prompt, ids, temperature=1.0):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + ids])).logits[0].float()
    lp = torch.log_softmax(logits / temperature, -1)
    return [float(lp[len(prompt) - 1 + j, t]) for j, t in enumerate(ids)]


def test_batched_sampling_is_seeded_per_request_and_logprobs_are_exact(backend):
    async def go():
        together = await asyncio.gather(*(backend.complete(_req(i, seed=100 + i)) for i in range(5)))
        alone = await backend.complete(_req(3, seed=103))
        return together, alone

    before = backend.batches
    together, alone = asyncio.run(go())
    assert backend.batches - before <= 3  # five concurrent requests were batched
    assert len(together[3].prompt_ids) > 64 > len(together[2].prompt_ids)
    assert alone.token_ids == together[3].token_ids  # partners in the batch do not change a sample
    assert together[0].token_ids != together[1].token_ids
    for out in together:
        assert len(out.token_ids) == len(out.logprobs) == 12 and out.finish_reason == "length"
        ref = _reference_logprobs(backend.model, out.prompt_ids, out.token_ids)
        assert max(abs(a - b) for a, b in zip(ref, out.logprobs, strict=True)) < 1e-4
        assert out.text == backend.tokenizer.decode(out.token_ids, skip_special_tokens=False)


def test_prompt_ids_are_used_verbatim_and_temperature_scales_logprobs(backend):
    prompt = render_ids(backend.tokenizer, [{"role": "user", "content": "hi"}], None, add_generation_prompt=True)
    req = ChatRequest(messages=[], prompt_ids=prompt + [5, 6], params=SamplingParams(max_new_tokens=6, temperature=0.7),
                      seed=1)
    out = asyncio.run(backend.complete(req))
    assert out.prompt_ids == prompt + [5, 6]
    ref = _reference_logprobs(backend.model, out.prompt_ids, out.token_ids, temperature=0.7)
    assert max(abs(a - b) for a, b in zip(ref, out.logprobs, strict=True)) < 1e-4


def test_greedy_is_deterministic_and_stop_token_ends_the_turn(backend):
    a = asyncio.run(backend.complete(_req(0, temperature=0.0, seed=1)))
    b = asyncio.run(backend.complete(_req(0, temperature=0.0, seed=2)))
    assert a.token_ids == b.token_ids
    j = max(i for i, t in enumerate(a.token_ids) if t not in a.token_ids[:i])  # a token's first appearance
    saved = backend.stop_ids
    backend.stop_ids = saved | {a.token_ids[j]}
    try:
        c = asyncio.run(backend.complete(_req(0, temperature=0.0)))
    finally:
        backend.stop_ids = saved
    assert c.finish_reason == "stop" and c.token_ids == a.token_ids[: j + 1]
    assert c.text == backend.tokenizer.decode(a.token_ids[:j], skip_special_tokens=False)  # stop token not in text


def test_common_prefix():
    from eigenfast.llm.hf import common_prefix

    assert common_prefix([1, 2, 3], [1, 2, 3, 4]) == 3
    assert common_prefix([1, 2, 3], [1, 9, 3]) == 1
    assert common_prefix([], [1]) == 0 and common_prefix([5] * 1000 + [1], [5] * 1000 + [2]) == 1000


def test_prefix_cache_reuses_kv_and_changes_nothing(tiny_path):
    """Multi-turn sessions with kept KV (including a diverging turn) sample exactly what full prefill samples."""
    plain = HFBackend(str(tiny_path))
    cached = HFBackend(str(tiny_path), model=plain.model, tokenizer=plain.tokenizer, prefix_cache=8)
    tok = plain.tokenizer

    async def session(backend, sid, turns, diverge):
        prompt = render_ids(tok, [{"role": "user", "content": f"hi {sid}"}], None, add_generation_prompt=True)
        outs = []
        for t in range(turns):
            req = ChatRequest(messages=[], prompt_ids=prompt, params=SamplingParams(max_new_tokens=5 + sid),
                              seed=10 * sid + t, session=f"s{sid}")
            out = await backend.complete(req)
            outs.append(out)
            tail = render_ids(tok, [{"role": "user", "content": f"more {t}"}], None, add_generation_prompt=True)
            prompt = prompt + out.token_ids + tail
            if diverge and t == 1:
                prompt = prompt[:3] + [7, 8] + prompt[5:]  # history rewritten: only 3 tokens reusable
        return outs

    async def run(backend):
        return await asyncio.gather(*(session(backend, s, 4, diverge=s == 2) for s in range(4)))

    ref, got = asyncio.run(run(plain)), asyncio.run(run(cached))
    assert cached.reused_tokens > 0 and plain.reused_tokens == 0
    # a new session borrows the head it shares with the latest kept KV (here: a long system prompt)
    system = [{"role": "system", "content": "Follow the policy. " * 20}]

    def ask(backend, i):
        req = ChatRequest(messages=system + [{"role": "user", "content": f"q{i}"}], seed=5 + i, session=f"new{i}",
                          params=SamplingParams(max_new_tokens=4))
        return asyncio.run(backend.complete(req))

    ask(cached, 1)
    before = cached.reused_tokens
    assert ask(cached, 2).token_ids == ask(plain, 2).token_ids
    assert cached.reused_tokens - before >= 32
    for ref_outs, got_outs in zip(ref, got, strict=True):
        for r, g in zip(ref_outs, got_outs, strict=True):
            assert g.token_ids == r.token_ids and g.prompt_ids == r.prompt_ids
            assert max(abs(a - b) for a, b in zip(r.logprobs, g.logprobs, strict=True)) < 1e-4
