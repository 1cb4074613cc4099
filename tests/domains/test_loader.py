"""The tau² loader and runtime on the real data: tool surfaces match tau²'s, envs are fresh and isolated,
DBs are parsed once, and bad tool calls from a model never crash an environment."""

from __future__ import annotations

import json

import pytest

from eigenfast.domains import load_tau2
from eigenfast.domains.loader import load_base
from eigenfast.records import ToolCall

DOMAINS = ["airline", "retail", "telecom", "mock"]


def _schema_type(schema: dict, defs: dict) -> str:
    """Our JSON schema reduced to the notation of tau²'s tools/<domain>.json."""
    if "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if b.get("type") != "null"]
        if len(branches) == 1:
            return _schema_type(branches[0], defs)
        return "union"
    if "$ref" in schema:
        return "object:" + schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return "enum(" + "|".join(sorted(map(str, schema["enum"]))) + ")"
    kind = schema.get("type")
    if kind == "array":
        return "array<" + _schema_type(schema.get("items", {}), defs) + ">"
    return kind or "any"


def _normalise(expected: str) -> str:
    if expected.startswith("enum("):
        return "enum(" + "|".join(sorted(expected[5:-1].split("|"))) + ")"
    if expected.startswith("array<"):
        return "array<" + _normalise(expected[6:-1]) + ">"
    return expected


@pytest.mark.parametrize("name", DOMAINS)
def test_tool_surface_matches_tau2(tau2_dir, name):
    domain = load_tau2(name, tau2_dir)
    listed = json.loads((tau2_dir / "tools" / f"{name}.json").read_text())
    ours = {s["function"]["name"]: s["function"] for s in domain.tool_schemas()}
    ours_user = {s["function"]["name"]: s["function"] for s in domain.user_tool_schemas()}
    expected_agent = {t["name"] for t in listed if t["kind"] != "user"}
    expected_user = {t["name"] for t in listed if t["kind"] == "user"}
    assert set(ours) == expected_agent
    assert set(ours_user) == expected_user
    for entry in listed:
        kit = domain.spec.user_tools if entry["kind"] == "user" else domain.spec.agent_tools
        fn = (ours_user if entry["kind"] == "user" else ours)[entry["name"]]
        props, required = fn["parameters"]["properties"], fn["parameters"]["required"]
        assert list(props) == [p["name"] for p in entry["params"]], entry["name"]
        assert set(required) == {p["name"] for p in entry["params"] if p["required"]}, entry["name"]
        for p in entry["params"]:
            got = _schema_type(props[p["name"]], fn["parameters"].get("$defs", {}))
            wants = {_normalise(w.strip()) for w in p["type"].split(" | ")}
            if any(w.startswith("object:") or "<object:" in w for w in wants):
                assert got.split(":")[0] in {w.split(":")[0] for w in wants}, (entry["name"], p["name"], got, wants)
            else:
                assert got in wants or (got == "union" and len(wants) > 1), (entry["name"], p["name"], got, wants)
        assert kit.mutates(entry["name"]) == entry["mutates_state"], entry["name"]
        assert fn["description"], entry["name"]


@pytest.mark.parametrize("name", DOMAINS)
def test_domain_loads_policy_tasks_and_shares_one_parsed_db(tau2_dir, name):
    domain = load_tau2(name, tau2_dir)
    again = load_tau2(name, tau2_dir)
    assert domain.agent_base is again.agent_base  # parsed once per process
    assert len(domain.tasks) == len(json.loads((tau2_dir / name / "tasks.json").read_text()))
    assert len(domain.policy) > 100
    assert domain.task(domain.tasks[-1].id) is domain.tasks[-1]
    with pytest.raises(KeyError, match="no task"):
        domain.task("no-such-task")


def test_telecom_policy_variants(tau2_dir):
    manual = load_tau2("telecom", tau2_dir).policy
    workflow = load_tau2("telecom", tau2_dir, policy_variant="workflow").policy
    assert manual.startswith("<main_policy>\n") and manual.endswith("\n</tech_support_policy>")
    assert (tau2_dir / "telecom" / "tech_support_workflow.md").read_text() in workflow
    assert (tau2_dir / "telecom" / "tech_support_manual.md").read_text() in manual


def test_unknown_domain_and_missing_folder_are_clear(tmp_path, tau2_dir):
    with pytest.raises(ValueError, match="unknown domain 'nope'"):
        load_tau2("nope", tau2_dir)
    with pytest.raises(FileNotFoundError, match="no such domain folder"):
        load_tau2("mock", tmp_path)


def test_broken_db_file_names_the_file(tmp_path):
    bad = tmp_path / "db.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="db.json: cannot parse DB"):
        load_base(bad)


@pytest.mark.parametrize("name", DOMAINS)
def test_envs_are_fresh_and_isolated(tau2_dir, name):
    domain = load_tau2(name, tau2_dir)
    task = domain.tasks[0]
    a, b = domain.make_env(task), domain.make_env(task)
    assert a.state_hash() == b.state_hash()
    pristine = domain.agent_base.store().hash()
    a.agent_db.edit()["__probe__"] = 1
    assert a.state_hash() != b.state_hash()
    assert domain.make_env(task).state_hash() == b.state_hash()
    assert domain.agent_base.store().hash() == pristine


def _bad_calls(schema: dict) -> list[tuple[str, object]]:
    fn = schema["function"]
    params = fn["parameters"]["properties"]
    required = fn["parameters"]["required"]
    good = {p: "x" for p in required}
    calls: list[tuple[str, object]] = [
        ("no_such_tool_anywhere", {}),
        (fn["name"], "{this is not json"),
        (fn["name"], "[1, 2]"),
        (fn["name"], {**good, "surprise_argument": 1}),
    ]
    if required:
        calls.append((fn["name"], {}))  # missing arguments
        first = required[0]
        wrong = {"string": {"a": [1]}, "integer": "not a number", "number": "NaN?", "array": 7}
        kind = params[first].get("type", "string")
        calls.append((fn["name"], {**good, first: wrong.get(kind, {"a": [1]})}))
    return calls


@pytest.mark.parametrize("name", DOMAINS)
def test_bad_tool_calls_are_error_observations(tau2_dir, name):
    domain = load_tau2(name, tau2_dir)
    env = domain.make_env(domain.tasks[0])
    schemas = [(s, "assistant") for s in domain.tool_schemas()] + [(s, "user") for s in domain.user_tool_schemas()]
    checked = 0
    for schema, requestor in schemas:
        for tool_name, arguments in _bad_calls(schema):
            before = env.state_hash()
            msg = env.call_tool(ToolCall(id="c1", name=tool_name, arguments=arguments, requestor=requestor))
            assert msg.role == "tool" and msg.tool_call_id == "c1" and msg.requestor == requestor
            assert msg.error, (tool_name, arguments, msg.content)
            assert msg.content.startswith("Error: "), msg.content
            assert env.state_hash() == before, (tool_name, arguments)
            checked += 1
    assert checked >= 4 * len(schemas)
    missing_user_side = domain.make_env().call_tool(ToolCall(id="u", name="x", arguments={}, requestor="user"))
    assert missing_user_side.error
