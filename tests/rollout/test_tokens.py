"""Token-in/token-out: the episode's segments are exactly what the agent model saw and sampled."""

import asyncio

import pytest
from rollout_checks import assert_well_formed

from eigenfast.llm.base import ChatRequest, SamplingParams
from eigenfast.llm.codec import render_tool_calls, to_chat_messages
from eigenfast.llm.scripted import ScriptedBackend
from eigenfast.llm.template import encode, render_text
from eigenfast.rollout import Limits, LLMAgent, ScriptedUser, run_episode
from eigenfast.rollout.agent import agent_view


def _agent_render(agent, messages):
    """The template's rendering of the whole conversation as the agent sees it."""
    view = to_chat_messages([agent.system, *agent_view(messages)])
    return render_text(agent.backend.tokenizer, view, agent.tools, add_generation_prompt=False)


def test_canonical_output_gives_exactly_the_template_tokens(mock_domain, tiny_tokenizer):
    replies = iter(['<tool_call>\n{"name": "get_users", "arguments": {}}\n</tool_call>',
                    'Checking.\n<tool_call>\n{"name": "update_task_status", "arguments": {"task_id": "task_1", '
                    '"status": "completed"}}\n</tool_call>',
                    "All done."])
    backend = ScriptedBackend(lambda req: next(replies), tiny_tokenizer)
    agent = LLMAgent(backend, policy=mock_domain.policy, tools=mock_domain.tool_schemas(), verify_tokens=True)
    task = mock_domain.tasks[0]
    ep, _ = asyncio.run(run_episode(mock_domain, task, agent, ScriptedUser(["Mark task_1 done.", "###STOP###"]),
                                    seed=3))
    assert ep.termination == "user_stop"
    assert_well_formed(ep)
    assert [s.owner for s in ep.segments] == ["system", "agent", "tool", "agent", "tool", "agent"]
    stream = [t for s in ep.segments for t in s.token_ids]
    # The stream ends at the last agent stop token; the template then writes "\n" and the user's last turn.
    last_agent = max(i for i, m in enumerate(ep.messages) if m.role == "assistant")
    rendered = _agent_render(agent, ep.messages[: last_agent + 1])
    assert rendered.endswith("<|im_end|>\n")
    assert stream == encode(tiny_tokenizer, rendered[:-1])


class Recording:
    """Wraps a backend and keeps every completion it returned."""

    def __init__(self, inner):
        self.inner, self.name, self.tokenizer, self.outputs = inner, inner.name, inner.tokenizer, []

    async def complete(self, request: ChatRequest):
        out = await self.inner.complete(request)
        self.outputs.append(out)
        return out

    async def close(self):
        return None


def test_random_model_stream_is_sampled_ids_plus_template_text(mock_domain, tiny_hf, tiny_tokenizer):
    """Documented difference: agent segments hold the sampled ids verbatim (the model's text may be a
    non-canonical tokenisation, or malformed); everything else is the template's text. Replacing each agent
    segment with the template's rendering of the parsed message must give the whole template rendering."""
    backend = Recording(tiny_hf)
    agent = LLMAgent(backend, policy=mock_domain.policy, tools=mock_domain.tool_schemas(),
                     params=SamplingParams(max_new_tokens=10), verify_tokens=True)
    user = ScriptedUser(["one", "two", "three", "four"])
    ep, _ = asyncio.run(run_episode(mock_domain, mock_domain.tasks[0], agent, user, limits=Limits(max_steps=9),
                                    seed=11))
    assert_well_formed(ep)
    agent_segments = [s for s in ep.segments if s.owner == "agent"]
    assert [s.token_ids for s in agent_segments] == [o.token_ids for o in backend.outputs]
    assert [s.logprobs for s in agent_segments] == [o.logprobs for o in backend.outputs]
    # Each backend call was conditioned on exactly the stream so far.
    pos = 0
    for seg, out in zip(agent_segments, backend.outputs, strict=True):
        start = next(i for i, s in enumerate(ep.segments) if s is seg)
        prefix = [t for s in ep.segments[:start] for t in s.token_ids]
        assert out.prompt_ids == prefix and len(prefix) >= pos
        pos = len(prefix)
    agent_msgs = [m for m in ep.messages if m.role == "assistant"][1:]  # the greeting was not sampled
    assert len(agent_msgs) == len(agent_segments)
    text, k = "", 0
    for seg in ep.segments:
        if seg.owner == "agent":
            m = agent_msgs[k]
            k += 1
            text += render_tool_calls(m.content, m.tool_calls or [])
            if seg.token_ids[-1] == tiny_tokenizer.eos_token_id:
                text += "<|im_end|>"
        else:
            text += tiny_tokenizer.decode(seg.token_ids, skip_special_tokens=False)
    last_agent = max(i for i, m in enumerate(ep.messages) if m.role == "assistant")
    assert text + "\n" == _agent_render(agent, ep.messages[: last_agent + 1])


def test_fast_delta_matches_the_full_render_and_drift_is_detected(tiny_tokenizer):
    from eigenfast.rollout.tokens import TemplateDriftError, TokenStream

    msgs = [{"role": "system", "content": "S"}, {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "u1"}]
    fast, ref = TokenStream(tiny_tokenizer, None, tiny_tokenizer.eos_token_id), None
    ref = TokenStream(tiny_tokenizer, None, tiny_tokenizer.eos_token_id, verify=True)
    for turn in range(4):
        assert fast.prompt(msgs, "user") == ref.prompt(msgs, "user")
        reply = {"role": "assistant", "content": f"a{turn}"}
        ids = encode(tiny_tokenizer, f"a{turn}") + [tiny_tokenizer.eos_token_id]
        for s in (fast, ref):
            s.sampled(msgs + [reply], ids, [0.0] * len(ids), stopped=True)
        msgs = msgs + [reply, {"role": "tool", "content": "r"}, {"role": "tool", "content": "q"}]
    # a template that rewrites history (here: numbers every turn by its position) is refused
    tiny_tokenizer_copy = tiny_tokenizer.__class__.from_pretrained(tiny_tokenizer.name_or_path)
    tiny_tokenizer_copy.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }} {{ messages|length }}\n"
                                         "{{ m.content }}<|im_end|>\n{% endfor %}"
                                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    drifty = TokenStream(tiny_tokenizer_copy, None, tiny_tokenizer.eos_token_id, verify=True)
    drifty.prompt(msgs[:3], "system")
    drifty.sampled(msgs[:4], [5, tiny_tokenizer.eos_token_id], [0.0, 0.0], stopped=True)
    with pytest.raises(TemplateDriftError):
        drifty.prompt(msgs[:5], "tool")
