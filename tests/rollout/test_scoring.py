import sys
import types

from eigenfast.records import Checker, Episode, Message, Task, UserScenario
from eigenfast.rollout.scoring import Scorer, checker_reward


def test_checker_reward_shapes():
    assert [checker_reward(v) for v in (True, False, 0.25, 3, -1, {"reward": 0.5}, {"passed": True}, "yes")] == \
        [1.0, 0.0, 0.25, 1.0, 0.0, 0.5, 1.0, 0.0]


class _FakeResult:
    def __init__(self, status, value=None):
        self.status, self.value, self.error_type, self.message = status, value, "ZeroDivisionError", "boom"


def test_tasks_with_checkers_are_scored_in_the_sandbox(monkeypatch):
    """Unit test of the glue only: the sandbox is another branch's real component; here it is faked."""
    runs = []

    class FakeSandbox:
        def __init__(self, **kw):
            runs.append(("start", kw))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            runs.append(("stop",))

        def run(self, source, payload, *, entry="check"):
            runs.append(("run", source, entry, payload["termination"], len(payload["messages"])))
            return _FakeResult("ok", {"reward": 1.0}) if "good" in source else _FakeResult("error")

    monkeypatch.setitem(sys.modules, "eigenfast.sandbox", types.SimpleNamespace(Sandbox=FakeSandbox))
    env = types.SimpleNamespace(agent_db=None, user_db=None)
    task = Task(id="t", user_scenario=UserScenario(instructions="x"), checker=Checker(source="good"))
    ep = Episode(task_id="t", messages=[Message(role="user", content="hi")], termination="user_stop")
    scorer = Scorer(domain=None, sandbox_options={"workers": 1})
    assert scorer.score(task, ep, env).reward == 1.0
    bad = Task(id="t", user_scenario=UserScenario(instructions="x"), checker=Checker(source="bad"))
    info = scorer.score(bad, ep, env)
    assert info.reward == 0.0 and info.details["checker_status"] == "error" and "boom" in info.details["checker_error"]
    ep.termination = "max_steps"
    assert scorer.score(task, ep, env).reward == 0.0
    scorer.close()
    assert [r[0] for r in runs] == ["start", "run", "run", "stop"]
