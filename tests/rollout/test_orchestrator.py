"""Many episodes at once through the real tiny model, real domains, the evaluator and the CLI."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from rollout_checks import assert_well_formed

from eigenfast.cli import main
from eigenfast.io import TornRecordWarning, read_records
from eigenfast.llm.base import SamplingParams
from eigenfast.records import Episode
from eigenfast.rollout import Limits, LLMAgent, Scorer, rollout
from eigenfast.rollout.user import llm_user_factory, scripted_user_factory


def _agent(domain, backend, n=12):
    return LLMAgent(backend, policy=domain.policy, tools=domain.tool_schemas(), params=SamplingParams(max_new_tokens=n),
                    verify_tokens=True)


def test_mock_rollout_scored_streamed_and_resumed(mock_domain, tiny_hf, tmp_path):
    out = tmp_path / "eps.jsonl"
    agent = _agent(mock_domain, tiny_hf)
    kw = dict(out=out, limits=Limits(max_steps=10, max_errors=3), seed=5, progress=False)
    s = asyncio.run(rollout(mock_domain, mock_domain.tasks, agent, scripted_user_factory(), samples=3,
                            scorer=Scorer(mock_domain), **kw))
    assert s.written == 3 and s.failed == 0 and s.agent_tokens > 0
    eps = list(read_records(out, Episode))
    assert sorted(e.id for e in eps) == [f"{mock_domain.tasks[0].id}#{k}" for k in range(3)]
    assert len({e.seed for e in eps}) == 3
    for ep in eps:
        assert_well_formed(ep)
        assert ep.termination in ("user_stop", "too_many_errors", "max_steps")
        assert ep.reward_info is not None and ep.reward == ep.reward_info.reward
        assert ep.reward == 0.0  # gibberish never completes the task
        assert any(s.owner == "agent" for s in ep.segments)
    # a rerun with more samples only adds the missing ones
    s2 = asyncio.run(rollout(mock_domain, mock_domain.tasks, agent, scripted_user_factory(), samples=5, **kw))
    assert (s2.skipped, s2.written) == (3, 2)
    assert len({e.id for e in read_records(out, Episode)}) == 5 == len(list(read_records(out)))


def test_tiny_llm_user_gibberish_ends_by_limits(mock_domain, tiny_hf):
    agent = _agent(mock_domain, tiny_hf, n=8)
    users = llm_user_factory(tiny_hf, mock_domain.data_dir, mock_domain.user_tool_schemas(),
                             SamplingParams(max_new_tokens=8))
    got = []
    s = asyncio.run(rollout(mock_domain, mock_domain.tasks, agent, users, out=None, samples=4,
                            limits=Limits(max_steps=8, max_errors=2), seed=1, progress=False,
                            on_episode=got.append))
    assert s.written == 4 and s.failed == 0
    for ep in got:
        assert ep.termination in ("max_steps", "too_many_errors")
        assert_well_formed(ep)
        assert any(m.role == "user" for m in ep.messages[1:])


def test_airline_rollout_with_tiny_models(tau2_dir, tmp_path):
    from eigenfast.domains import load_tau2
    from eigenfast.llm.hf import HFBackend
    from eigenfast.llm.tiny import TinyConfig, save_tiny_model

    try:
        airline = load_tau2("airline", tau2_dir)
    except AttributeError as exc:  # the airline toolkit is written in parallel on this branch
        pytest.skip(f"airline domain not available yet: {exc}")
    # A tokenizer trained on the airline policy and tools halves the ~9k-token prompt of the generic tiny one.
    corpus = airline.policy + "\n" + json.dumps(airline.tool_schemas())
    backend = HFBackend(str(save_tiny_model(tmp_path / "tiny-airline", TinyConfig(vocab_size=2048), corpus)))
    users = llm_user_factory(backend, tau2_dir, [], SamplingParams(max_new_tokens=8))
    got = []
    s = asyncio.run(rollout(airline, airline.tasks[:1], _agent(airline, backend, n=4), users, out=None, samples=2,
                            limits=Limits(max_steps=4), seed=2, scorer=Scorer(airline), progress=False,
                            on_episode=got.append))
    assert s.written == 2
    for ep in got:
        assert_well_formed(ep)
        assert ep.termination in ("max_steps", "too_many_errors") and ep.reward == 0.0
        assert ep.reward_info is not None  # scored by the evaluator (0: never reached a stop)


def _lines(path):
    return path.read_bytes().split(b"\n") if path.exists() else []


def test_resume_after_sigkill_loses_and_duplicates_nothing(tiny_path, tau2_dir, tmp_path):
    out = tmp_path / "eps.jsonl"
    cmd = [sys.executable, "-m", "eigenfast.cli", "rollout", "--domain", "mock", "--data-dir", str(tau2_dir),
           "--agent", f"hf:{tiny_path}", "--user", f"hf:{tiny_path}", "--samples", "12", "--out", str(out),
           "--max-steps", "6", "--max-new-tokens", "24", "--concurrency", "2", "--no-progress", "--no-score"]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_lines(out)) < 4 and time.monotonic() < deadline:  # >= 3 complete episodes on disk
            assert proc.poll() is None, "the rollout finished before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before = [line for line in _lines(out) if line]
    assert 3 <= len(before) < 12
    torn = b'{"task_id":"update_task_with_init'  # what a kill in the middle of a write leaves behind
    with open(out, "ab") as f:
        f.write(torn)
    with pytest.warns(TornRecordWarning, match="torn"):
        assert len(list(read_records(out))) == len(before)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "TornRecordWarning" in done.stderr and out.with_name(out.name + ".torn").read_bytes() == torn
    after = [line for line in _lines(out) if line]
    assert after[: len(before)] == before  # finished episodes are untouched
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids)) == 12
    for ep in read_records(out, Episode):
        assert ep.termination in ("max_steps", "too_many_errors", "user_stop")


def test_cli_eval_tau2_prints_pass_k_and_writes_tau2_results(tiny_path, tau2_dir, tmp_path, capsys):
    rc = main(["eval", "tau2", "--domain", "mock", "--data-dir", str(tau2_dir), "--agent", f"hf:{tiny_path}",
               "--user", "scripted", "--trials", "2", "--out-dir", str(tmp_path), "--max-steps", "6",
               "--max-new-tokens", "8", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "pass^1" in printed and "pass^2" in printed and "mock" in printed
    results = json.loads((tmp_path / "mock.results.json").read_text())
    assert results["info"]["num_trials"] == 2 and results["info"]["environment_info"]["domain_name"] == "mock"
    assert [t["id"] for t in results["tasks"]] == ["update_task_with_initialization_data"]
    sims = results["simulations"]
    assert sorted(s["trial"] for s in sims) == [0, 1]
    for sim in sims:
        assert sim["termination_reason"] in ("user_stop", "max_steps", "too_many_errors")
        assert sim["reward_info"]["reward"] == 0.0 and sim["messages"][0]["role"] == "assistant"
        assert {"id", "task_id", "start_time", "end_time", "duration", "seed"} <= set(sim)


def test_cli_rollout_usage_errors(tau2_dir, tmp_path, capsys):
    base = ["rollout", "--domain", "mock", "--data-dir", str(tau2_dir), "--out", str(tmp_path / "x.jsonl")]
    assert main([*base, "--agent", "gpt4"]) == 2
    assert "--agent" in capsys.readouterr().err
    assert main([*base, "--agent", "hf:/nowhere", "--samples", "0"]) == 2
    assert main(["rollout", "--domain", "nope", "--data-dir", str(tau2_dir), "--out", "x", "--agent", "hf:/x"]) == 2
    capsys.readouterr()
    # an unknown output format is a usage error found before any model loads (hf:/nowhere would fail to load)
    assert main(["rollout", "--domain", "mock", "--data-dir", str(tau2_dir), "--out", str(tmp_path / "e.txt"),
                 "--agent", "hf:/nowhere"]) == 2
    assert "--out" in capsys.readouterr().err


def test_cli_rollout_from_a_config_file(tau2_dir, tiny_path, tmp_path, capsys):
    """A typed config sets the run; overrides inside --config and flags after it win, in that order."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"domain:\n  name: mock\n  data_dir: {tau2_dir}\nrollout:\n  agent: hf:{tiny_path}\n"
                   f"  user: scripted\n  samples: 3\n  max_steps: 8\n  max_new_tokens: 8\nout_dir: {tmp_path}/out\n")
    assert main(["rollout", "--config", str(cfg), "rollout.samples=2", "--no-progress"]) == 0
    out = tmp_path / "out" / "mock.episodes.jsonl"
    episodes = list(read_records(out, Episode))
    assert len(episodes) == 2 and {e.sample_idx for e in episodes} == {0, 1}
    assert all(len(e.messages) <= 8 for e in episodes)
    assert main(["rollout", "--config", str(cfg), "--samples", "4", "--no-progress"]) == 0
    assert len(list(read_records(out, Episode))) == 4  # resumed: two more, none repeated
    capsys.readouterr()
    (tmp_path / "bad.yaml").write_text("rollout:\n  samplez: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["rollout", "--config", str(tmp_path / "bad.yaml")])
    assert info.value.code == 2 and "bad.yaml: rollout.samplez: unknown key" in capsys.readouterr().err
    assert main(["rollout", "--domain", "mock"]) == 2
    assert "missing --agent, --out" in capsys.readouterr().err


def test_seeded_runs_repeat_exactly_with_and_without_kept_kv(mock_domain, tiny_hf):
    from eigenfast.llm.hf import HFBackend

    kept = HFBackend("tiny", model=tiny_hf.model, tokenizer=tiny_hf.tokenizer, prefix_cache=16)

    def once(backend):
        got = []
        users = llm_user_factory(backend, mock_domain.data_dir, [], SamplingParams(max_new_tokens=6))
        asyncio.run(rollout(mock_domain, mock_domain.tasks, _agent(mock_domain, backend, n=6), users, out=None,
                            samples=3, limits=Limits(max_steps=8), seed=9, progress=False, on_episode=got.append))
        return sorted((e.id, e.seed, [m.content for m in e.messages], [s.token_ids for s in e.segments]) for e in got)

    first, second, third = once(tiny_hf), once(tiny_hf), once(kept)
    assert first == second == third and len({seed for _, seed, _, _ in first}) == 3
    assert kept.reused_tokens > 0
