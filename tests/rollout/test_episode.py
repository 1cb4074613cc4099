"""The episode loop's tau² rules, with scripted backends standing in for models."""

import asyncio

import pytest
from rollout_checks import assert_well_formed

from eigenfast.llm.base import BackendError
from eigenfast.llm.scripted import ScriptedBackend
from eigenfast.rollout import Limits, LLMAgent, LLMUser, ReplayUser, ScriptedUser, run_episode
from eigenfast.rollout.user import user_view


def _agent(domain, reply, tokenizer=None):
    return LLMAgent(ScriptedBackend(reply, tokenizer), policy=domain.policy, tools=domain.tool_schemas())


def _run(domain, agent, user, **kw):
    return asyncio.run(run_episode(domain, domain.tasks[0], agent, user, **kw))[0]


def test_malformed_output_is_an_error_observation_counted_toward_max_errors(mock_domain, tiny_tokenizer):
    bad = iter(['<tool_call>{"name": "get_users", "arguments": {oops}</tool_call>',
                '<tool_call>{"name": "delete_everything", "arguments": {}}</tool_call>',
                '<tool_call>{"name": "update_task_status", "arguments": {"task_id": 5, "status": "completed"}}</tool_call>'])
    agent = _agent(mock_domain, lambda r: next(bad), tiny_tokenizer)
    ep = _run(mock_domain, agent, ScriptedUser(["hi"]), limits=Limits(max_errors=3))
    assert ep.termination == "too_many_errors"
    assert_well_formed(ep)
    results = [m for m in ep.messages if m.role == "tool"]
    assert [m.error for m in results] == [True, True, True]
    assert "not valid JSON" in results[0].content and "unknown tool" in results[1].content
    assert "'task_id'" in results[2].content and "string" in results[2].content
    assert [e["error"] for e in ep.info["format_errors"]] == [m.content.removeprefix("Error: ") for m in results]
    assert ep.info["errors"] == 3


def test_tool_errors_from_the_environment_count_too(mock_domain):
    agent = _agent(mock_domain, lambda r: '{"name": "update_task_status", "arguments": {"task_id": "nope", "status": "completed"}}')
    ep = _run(mock_domain, agent, ScriptedUser(["hi"]), limits=Limits(max_errors=2))
    assert ep.termination == "too_many_errors" and ep.info["format_errors"] == []
    assert all(m.error for m in ep.messages if m.role == "tool")


def test_step_limit_counts_every_message(mock_domain):
    calls = iter(['{"name": "get_users", "arguments": {}}', "hello"] * 10)
    ep = _run(mock_domain, _agent(mock_domain, lambda r: next(calls)), ScriptedUser(["a"] * 20),
              limits=Limits(max_steps=7))
    assert ep.termination == "max_steps" and ep.info["steps"] == 7
    # user, agent(call), env->agent, agent(text), user, agent(call), env->agent: 7 hops after the greeting
    assert [m.role for m in ep.messages] == ["assistant", "user", "assistant", "tool", "assistant", "user",
                                             "assistant", "tool"]
    assert_well_formed(ep)


def test_stops(mock_domain):
    ep = _run(mock_domain, _agent(mock_domain, lambda r: "Goodbye ###STOP###"), ScriptedUser(["hi"]))
    assert ep.termination == "agent_stop" and len(ep.messages) == 3
    ep = _run(mock_domain, _agent(mock_domain, lambda r: "Sure."), ScriptedUser(["hi", "thanks ###TRANSFER###"]))
    assert ep.termination == "user_stop" and ep.messages[-1].content == "thanks ###TRANSFER###"


def test_backend_failure_ends_the_episode_as_infrastructure_error(mock_domain):
    def boom(req):
        raise BackendError("server went away")

    ep = _run(mock_domain, _agent(mock_domain, boom), ScriptedUser(["hi"]))
    assert ep.termination == "infrastructure_error" and "server went away" in ep.info["error"]


def test_timeout(mock_domain):
    ep = _run(mock_domain, _agent(mock_domain, lambda r: "ok"), ScriptedUser(["a"] * 100),
              limits=Limits(timeout_s=0.0))
    assert ep.termination == "timeout"


def test_replay_user_repeats_recorded_turns(mock_domain):
    first = _run(mock_domain, _agent(mock_domain, lambda r: "ok"), ScriptedUser(["one", "two", "###STOP###"]))
    again = _run(mock_domain, _agent(mock_domain, lambda r: "ok"), ReplayUser(first.messages))
    assert [m.content for m in again.messages] == [m.content for m in first.messages]


@pytest.fixture(scope="module")
def telecom(tau2_dir):
    from eigenfast.domains import load_tau2

    return load_tau2("telecom", tau2_dir)


def test_telecom_user_simulator_uses_user_side_tools(telecom, tiny_tokenizer):
    user_tools = telecom.user_tool_schemas()
    assert {"check_status_bar", "toggle_airplane_mode"} <= {t["function"]["name"] for t in user_tools}
    user_requests = []

    def user_reply(req):
        user_requests.append(req)
        if len(user_requests) == 1:
            return 'Let me look.\n<tool_call>{"name": "check_status_bar", "arguments": {}}</tool_call>'
        if len(user_requests) == 2:
            return "It shows no signal."
        return "Thanks. ###STOP###"

    agent_requests = []

    def agent_reply(req):
        agent_requests.append(req)
        return "Please check your status bar."

    agent = _agent(telecom, agent_reply, tiny_tokenizer)
    user = LLMUser(ScriptedBackend(user_reply), system_prompt="be a customer", tools=user_tools)
    ep, env = asyncio.run(run_episode(telecom, telecom.tasks[0], agent, user))
    assert ep.termination == "user_stop"
    assert_well_formed(ep)
    (call_msg,) = [m for m in ep.messages if m.role == "user" and m.tool_calls]
    assert call_msg.tool_calls[0].requestor == "user" and call_msg.tool_calls[0].name == "check_status_bar"
    (result,) = [m for m in ep.messages if m.role == "tool"]
    assert result.requestor == "user" and not result.error and result.content
    # the user sees its own tool result; the agent never sees the user's device traffic
    assert user_requests[1].messages[-1]["role"] == "tool"
    assert all(m["role"] != "tool" for r in agent_requests for m in r.messages)
    assert len(agent_requests) == 1
    assert [m["content"] for m in agent_requests[0].messages[-2:]] == ["Let me look.", "It shows no signal."]
    assert user_requests[0].tools == user_tools


def test_user_view_flips_roles():
    from eigenfast.records import Message, ToolCall

    msgs = [Message(role="assistant", content="Hi"), Message(role="user", content="help"),
            Message(role="assistant", tool_calls=[ToolCall(id="a", name="x")]),
            Message(role="tool", content="secret", tool_call_id="a", requestor="assistant"),
            Message(role="assistant", content="Done")]
    assert [(m.role, m.content) for m in user_view(msgs)] == [("user", "Hi"), ("assistant", "help"), ("user", "Done")]
