"""Rollout engine throughput.

1. `hf` on the tiny model: episodes/s and generated tokens/s, one episode at a time (reference: no batching)
   against many at once (the orchestrator batching concurrent turns into one forward pass), and many at once
   with each session's KV kept between turns (`prefix_cache`).
2. The orchestrator's own overhead per step with an instant backend (replies are precomputed strings), with
   and without token-in/token-out streams (template rendering + tokenising each delta). Goal: < 1 ms/step.

Prints both side by side with ratios and peak RSS; `--json PATH` writes the numbers.

    PYTHONPATH=. python3 bench/rollout.py --data-dir ../shared/tau2 [--episodes 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from eigenfast.domains import load_tau2
from eigenfast.llm.base import SamplingParams
from eigenfast.llm.hf import HFBackend
from eigenfast.llm.scripted import ScriptedBackend
from eigenfast.llm.tiny import save_tiny_model
from eigenfast.rollout import Limits, LLMAgent, ScriptedUser, rollout

GOAL_MS_PER_STEP = 1.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(domain, agent, users, *, episodes: int, concurrency: int, limits: Limits) -> dict[str, float]:
    tasks = [domain.tasks[0]]
    t0 = time.perf_counter()
    s = asyncio.run(rollout(domain, tasks, agent, users, out=None, samples=episodes, limits=limits, seed=0,
                            concurrency=concurrency, progress=False))
    wall = time.perf_counter() - t0
    assert s.written == episodes and s.failed == 0, s
    return {"episodes": episodes, "wall_s": wall, "episodes_per_s": episodes / wall, "steps": s.steps,
            "ms_per_step": 1000 * wall / max(s.steps, 1), "agent_tokens": s.agent_tokens,
            "tokens_per_s": s.agent_tokens / wall}


def bench_hf(domain, model_dir: Path, episodes: int, new_tokens: int, device: str) -> dict[str, dict[str, float]]:
    plain = HFBackend(str(model_dir), max_batch=64, device=device)
    cached = HFBackend(str(model_dir), max_batch=64, device=device, model=plain.model, tokenizer=plain.tokenizer,
                       prefix_cache=2 * episodes)
    users = lambda task: ScriptedUser(["I need help with my tasks.", "Please continue.", "Thanks."])  # noqa: E731
    limits = Limits(max_steps=8, max_errors=50)
    out = {}
    for label, backend, concurrency in (("sequential", plain, 1), ("concurrent", plain, episodes),
                                        ("concurrent+prefix KV", cached, episodes)):
        agent = LLMAgent(backend, policy=domain.policy, tools=domain.tool_schemas(),
                         params=SamplingParams(max_new_tokens=new_tokens))
        run(domain, agent, users, episodes=2, concurrency=2, limits=limits)  # warm-up
        out[label] = run(domain, agent, users, episodes=episodes, concurrency=concurrency, limits=limits)
    return out


def bench_overhead(domain, tokenizer, episodes: int, steps: int) -> dict[str, dict[str, float]]:
    replies = ['<tool_call>\n{"name": "get_users", "arguments": {}}\n</tool_call>', "Here is what I found."]
    users = lambda task: ScriptedUser(["next"] * steps)  # noqa: E731
    limits = Limits(max_steps=steps, max_errors=10**9)
    out = {}
    for label, tok in (("messages only", None), ("token-in/token-out", tokenizer)):
        turn = iter(range(10**9))
        backend = ScriptedBackend(lambda req, turn=turn: replies[next(turn) % 2], tok)
        agent = LLMAgent(backend, policy=domain.policy, tools=domain.tool_schemas())
        run(domain, agent, users, episodes=2, concurrency=2, limits=limits)
        out[label] = run(domain, agent, users, episodes=episodes, concurrency=episodes, limits=limits)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=os.environ.get("EIGENFAST_TAU2_DATA", "../shared/tau2"))
    ap.add_argument("--episodes", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--overhead-steps", type=int, default=60, help="steps per episode in the overhead run")
    ap.add_argument("--device", default="cpu", help="where the tiny model runs (cpu, cuda)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    domain = load_tau2("mock", args.data_dir)
    model_dir = save_tiny_model(Path(tempfile.gettempdir()) / "eigenfast-bench-tiny")
    hf = bench_hf(domain, model_dir, args.episodes, args.new_tokens, args.device)
    from transformers import AutoTokenizer

    overhead = bench_overhead(domain, AutoTokenizer.from_pretrained(model_dir), args.episodes, args.overhead_steps)

    print(f"hf backend, tiny model on {args.device} (mock domain, {args.episodes} episodes, {args.new_tokens} new tokens/turn)")
    print(f"  {'mode':<22}{'episodes/s':>12}{'gen tok/s':>12}{'ms/step':>10}")
    for label, r in hf.items():
        print(f"  {label:<22}{r['episodes_per_s']:>12.2f}{r['tokens_per_s']:>12.0f}{r['ms_per_step']:>10.2f}")
    for label in ("concurrent", "concurrent+prefix KV"):
        print(f"  {label} / sequential: {hf[label]['tokens_per_s'] / hf['sequential']['tokens_per_s']:.2f}x tokens/s")
    print(f"orchestrator overhead, instant backend ({args.overhead_steps} steps/episode, env calls included)")
    for label, r in overhead.items():
        ok = "ok" if r["ms_per_step"] < GOAL_MS_PER_STEP else "ABOVE GOAL"
        print(f"  {label:<22}{r['ms_per_step']:>8.3f} ms/step  ({r['steps'] / r['wall_s']:.0f} steps/s)  "
              f"goal < {GOAL_MS_PER_STEP} ms: {ok}")
    ratio = overhead["token-in/token-out"]["ms_per_step"] / overhead["messages only"]["ms_per_step"]
    print(f"  token streams cost {ratio:.2f}x the message-only loop; peak RSS {peak_rss_mb():.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps({"hf": hf, "overhead": overhead, "peak_rss_mb": peak_rss_mb()}, indent=1))


if __name__ == "__main__":
    main()
