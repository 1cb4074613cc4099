"""tau²'s reward rules on hand-built trajectories over the real mock and telecom domains."""

from __future__ import annotations

import pytest

from eigenfast.domains import load_tau2
from eigenfast.evaluation import NLVerdict, action_matches, evaluate_episode
from eigenfast.records import Action, EvaluationCriteria, Message, Task, ToolCall, UserScenario


@pytest.fixture(scope="module")
def mock(tau2_dir):
    return load_tau2("mock", tau2_dir)


def make_task(**criteria) -> Task:
    return Task(id="t", user_scenario=UserScenario(instructions="x"),
                evaluation_criteria=EvaluationCriteria(**criteria))


GOLD = [Action(action_id="a", name="update_task_status", arguments={"task_id": "task_1", "status": "completed"})]


def run(domain, calls, *, text=None):
    """A trajectory whose tool results come from really executing `calls` on a fresh env."""
    env = domain.make_env()
    messages = [Message(role="assistant", content="Hi! How can I help you today?")]
    for i, (name, args, requestor) in enumerate(calls):
        call = ToolCall(id=f"c{i}", name=name, arguments=args, requestor=requestor)
        messages.append(Message(role="user" if requestor == "user" else "assistant", tool_calls=[call]))
        messages.append(env.call_tool(call))
    if text:
        messages.append(Message(role="assistant", content=text))
    messages.append(Message(role="user", content="thanks ###STOP###"))
    return messages


def test_db_component_compares_end_states_not_paths(mock):
    task = make_task(actions=GOLD, reward_basis=["DB"])
    right = run(mock, [("get_users", {}, "assistant"),
                       ("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")])
    assert evaluate_episode(mock, task, right, "user_stop").reward == 1.0
    # Another path to the same end state also passes; reads and unknown tools change nothing.
    detour = run(mock, [("update_task_status", {"task_id": "task_1", "status": "pending"}, "assistant"),
                        ("no_such_tool", {}, "assistant"),
                        ("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")])
    assert evaluate_episode(mock, task, detour, "user_stop").reward == 1.0
    extra = run(mock, [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant"),
                       ("create_task", {"user_id": "user_1", "title": "extra"}, "assistant")])
    info = evaluate_episode(mock, task, extra, "user_stop")
    assert info.reward == 0.0 and info.components["DB"] == 0.0
    user_write = run(mock, [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant"),
                            ("dismiss_notification", {"notification_id": "notif_1"}, "user")])
    info = evaluate_episode(mock, task, user_write, "user_stop")
    assert info.reward == 0.0 and info.details["env"]["user_db_match"] is False


def test_a_task_whose_gold_is_reads_only_requires_no_writes(mock):
    task = make_task(actions=[Action(action_id="r", name="get_users")], reward_basis=["DB"])
    assert evaluate_episode(mock, task, run(mock, [("get_users", {}, "assistant")]), "user_stop").reward == 1.0
    wrote = run(mock, [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")])
    assert evaluate_episode(mock, task, wrote, "user_stop").reward == 0.0


def test_replay_that_diverges_from_the_recording_scores_zero(mock):
    task = make_task(actions=GOLD, reward_basis=["DB"])
    messages = run(mock, [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")])
    forged = messages[2]
    messages[2] = Message(role="tool", content='{"task_id": "task_1", "status": "forged"}',
                          tool_call_id=forged.tool_call_id, requestor="assistant")
    info = evaluate_episode(mock, task, messages, "user_stop")
    assert info.reward == 0.0 and "ReplayMismatch" in info.details["error"]


@pytest.mark.parametrize("termination", ["max_steps", "too_many_errors", "agent_error", "timeout", None])
def test_runs_that_did_not_stop_score_zero(mock, termination):
    task = make_task(actions=GOLD, reward_basis=["DB"])
    right = run(mock, [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")])
    assert evaluate_episode(mock, task, right, "agent_stop").reward == 1.0
    assert evaluate_episode(mock, task, right, termination).reward == 0.0


def test_no_criteria_scores_one_and_basis_defaults_to_db_and_communicate(mock):
    bare = Task(id="t", user_scenario=UserScenario(instructions="x"))
    assert evaluate_episode(mock, bare, run(mock, []), "user_stop").reward == 1.0
    task = make_task(actions=GOLD, communicate_info=["Task_1 is Done"])
    calls = [("update_task_status", {"task_id": "task_1", "status": "completed"}, "assistant")]
    said = evaluate_episode(mock, task, run(mock, calls, text="OK, task_1 is done, anything else?"), "user_stop")
    assert said.basis == ["DB", "COMMUNICATE"] and said.reward == 1.0
    silent = evaluate_episode(mock, task, run(mock, calls, text="Finished."), "user_stop")
    assert silent.reward == 0.0 and silent.components == {**silent.components, "DB": 1.0, "COMMUNICATE": 0.0}
    # Components outside the basis never gate the reward.
    db_only = make_task(actions=GOLD, communicate_info=["never said"], reward_basis=["DB"])
    assert evaluate_episode(mock, db_only, run(mock, calls), "user_stop").reward == 1.0


def test_communicate_matching_ignores_case_and_commas_in_the_agent_text(mock):
    task = make_task(communicate_info=["1000 dollars", "Refund"], reward_basis=["COMMUNICATE"])
    assert evaluate_episode(mock, task, run(mock, [], text="Your REFUND of 1,000 Dollars is on its way"),
                            "user_stop").reward == 1.0
    only_user = run(mock, []) + [Message(role="user", content="refund of 1000 dollars")]
    only_user.append(Message(role="user", content="###STOP###"))
    assert evaluate_episode(mock, task, only_user, "user_stop").reward == 0.0


def test_action_matching_rules():
    call = ToolCall(id="1", name="f", arguments={"a": 1, "b": 2})
    assert action_matches(Action(action_id="x", name="f", arguments={"a": 1, "b": 2}), call)
    assert not action_matches(Action(action_id="x", name="f", arguments={"a": 1, "b": 3}), call)
    assert action_matches(Action(action_id="x", name="f", arguments={"a": 1, "b": 3}, compare_args=["a"]), call)
    assert action_matches(Action(action_id="x", name="f", arguments={"z": 0}, compare_args=[]), call)
    assert not action_matches(Action(action_id="x", name="g", arguments={}, compare_args=[]), call)
    # compare_args None compares on the call's own keys: a gold-only key is not required.
    assert action_matches(Action(action_id="x", name="f", arguments={"a": 1, "b": 2, "c": 9}), call)


def test_action_component_counts_user_tool_calls_too(mock):
    task = make_task(actions=[Action(action_id="d", name="dismiss_notification", requestor="user",
                                     arguments={"notification_id": "notif_1"})], reward_basis=["ACTION"])
    done = run(mock, [("dismiss_notification", {"notification_id": "notif_1"}, "user")])
    assert evaluate_episode(mock, task, done, "user_stop").reward == 1.0
    assert evaluate_episode(mock, task, run(mock, []), "user_stop").reward == 0.0


class ScriptedJudge:
    """Stands in for the LLM judge (a later issue); records what it was shown."""

    def __init__(self, verdict: bool):
        self.verdict, self.seen = verdict, None

    def judge(self, transcript, assertions):
        self.seen = transcript
        return [NLVerdict(assertion=a, met=self.verdict) for a in assertions]


def test_nl_assertions_need_a_judge_and_are_never_passed_unjudged(mock):
    task = make_task(nl_assertions=["The agent is polite"], reward_basis=["NL_ASSERTION"])
    messages = run(mock, [], text="Happy to help!")
    unjudged = evaluate_episode(mock, task, messages, "user_stop")
    assert unjudged.unjudged == ["NL_ASSERTION"] and unjudged.reward == 0.0
    judge = ScriptedJudge(True)
    assert evaluate_episode(mock, task, messages, "user_stop", judge=judge).reward == 1.0
    assert "assistant: Happy to help!" in judge.seen
    assert evaluate_episode(mock, task, messages, "user_stop", judge=ScriptedJudge(False)).reward == 0.0
    # Leaving NL_ASSERTION out of the scored components (gold replay) leaves it unjudged but not gating.
    partial = evaluate_episode(mock, task, messages, "user_stop", components=["DB"])
    assert partial.reward == 1.0 and partial.unjudged == []
    with pytest.raises(ValueError, match="unknown reward component"):
        evaluate_episode(mock, task, messages, "user_stop", components=["VIBES"])


def test_env_assertions_run_on_the_replayed_state(tau2_dir):
    telecom = load_tau2("telecom", tau2_dir)
    task = next(t for t in telecom.tasks if t.evaluation_criteria.env_assertions)
    from eigenfast.evaluation.replay import play

    gold = play(telecom, task)
    assert evaluate_episode(telecom, task, gold.messages, "user_stop").components["ENV_ASSERTION"] == 1.0
    nothing_done = [Message(role="user", content="###STOP###")]
    info = evaluate_episode(telecom, task, nothing_done, "user_stop")
    assert info.components["ENV_ASSERTION"] == 0.0 and info.reward == 0.0
    assert any(not c["met"] for c in info.details["env"]["env_assertions"])


def test_judge_prompt_and_answer_parsing():
    from eigenfast.evaluation import judge_messages, parse_verdicts, transcript

    text = transcript([Message(role="assistant", content="Hello"), Message(role="tool", content="{}")])
    assert text == "assistant: Hello\ntool: {}"
    messages = judge_messages(text, ["polite", "no refund"])
    assert messages[0]["role"] == "system" and "- no refund" in messages[1]["content"]
    answer = ('Sure: {"results": [{"expectedOutcome": "polite", "reasoning": "ok", "metExpectation": true},'
              ' {"expectedOutcome": "no refund", "reasoning": "gave one", "metExpectation": false}]}')
    verdicts = parse_verdicts(answer, ["polite", "no refund"])
    assert [(v.assertion, v.met) for v in verdicts] == [("polite", True), ("no refund", False)]
    with pytest.raises(ValueError, match="must hold 2 results"):
        parse_verdicts('{"results": []}', ["polite", "no refund"])
    with pytest.raises(ValueError, match="boolean metExpectation"):
        parse_verdicts('{"results": [{"metExpectation": "yes"}]}', ["polite"])
    with pytest.raises(ValueError, match="not JSON"):
        parse_verdicts("{nope}", ["polite"])
