"""Episodes whose agent is reached over HTTP: the `openai` backend against the loopback server."""

import asyncio

from rollout_checks import assert_well_formed

from eigenfast.llm.base import SamplingParams
from eigenfast.llm.hf import HFBackend
from eigenfast.llm.openai import OpenAIBackend
from eigenfast.llm.scripted import ScriptedBackend
from eigenfast.llm.server import ServerThread, build_app
from eigenfast.llm.template import encode, render_text
from eigenfast.rollout import Limits, LLMAgent, rollout
from eigenfast.rollout.user import scripted_user_factory


def _run(domain, url, samples):
    agent = LLMAgent(OpenAIBackend("tiny", url), policy=domain.policy, tools=domain.tool_schemas(),
                     params=SamplingParams(max_new_tokens=8))
    got = []

    async def go():
        try:
            return await rollout(domain, domain.tasks, agent, scripted_user_factory(), out=None, samples=samples,
                                 limits=Limits(max_steps=8, max_errors=3), seed=4, progress=False,
                                 on_episode=got.append)
        finally:
            await agent.backend.close()

    return asyncio.run(go()), got, agent


def test_tiny_model_served_over_http(mock_domain, tiny_path):
    with ServerThread(build_app(HFBackend(str(tiny_path)), "tiny")) as srv:
        summary, episodes, _ = _run(mock_domain, srv.url, samples=2)
    assert summary.written == 2 and summary.failed == 0
    for ep in episodes:
        assert_well_formed(ep)
        assert ep.termination in ("user_stop", "max_steps", "too_many_errors")
        # the server's own re-rendering may re-tokenise sampled text; then segments are dropped, not faked
        assert ep.segments or ep.info.get("token_drift")


def test_server_reported_ids_build_the_stream_when_nothing_drifts(mock_domain, tiny_tokenizer):
    replies = iter(['<tool_call>\n{"name": "get_users", "arguments": {}}\n</tool_call>', "Done."] * 4)
    with ServerThread(build_app(ScriptedBackend(lambda r: next(replies), tiny_tokenizer), "tiny")) as srv:
        summary, (ep,), agent = _run(mock_domain, srv.url, samples=1)
    assert ep.termination == "user_stop" and not ep.info.get("token_drift")
    assert [s.owner for s in ep.segments] == ["system", "agent", "tool", "agent"]
    view = [{"role": "system", "content": agent.system.content}]
    from eigenfast.llm.codec import to_chat_messages
    from eigenfast.rollout.agent import agent_view

    view += to_chat_messages(agent_view(ep.messages[:-1]))  # up to the last agent turn
    rendered = render_text(tiny_tokenizer, view, agent.tools, add_generation_prompt=False)
    assert [t for s in ep.segments for t in s.token_ids] == encode(tiny_tokenizer, rendered[:-1])
