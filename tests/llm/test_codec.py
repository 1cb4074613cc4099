import json

from hypothesis import given, settings
from hypothesis import strategies as st

from eigenfast.llm.codec import (
    INVALID_CALL,
    check_arguments,
    parse_completion,
    parse_native,
    render_tool_calls,
    to_chat_messages,
    to_openai_wire,
)
from eigenfast.llm.template import render_text
from eigenfast.records import Message, ToolCall

TOOLS = [
    {"type": "function", "function": {"name": "get_user", "parameters": {
        "type": "object", "properties": {"user_id": {"type": "string"}, "verbose": {"type": "boolean"}},
        "required": ["user_id"]}}},
    {"type": "function", "function": {"name": "book", "parameters": {
        "type": "object", "properties": {
            "seats": {"type": "integer"}, "cabin": {"type": "string", "enum": ["economy", "business"]},
            "passengers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}},
                                                       "required": ["name"]}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["seats", "cabin"]}}},
]


def test_hermes_several_calls_and_content():
    text = ('Let me check.\n<tool_call>\n{"name": "get_user", "arguments": {"user_id": "u1"}}\n</tool_call>\n'
            '<tool_call>{"name": "book", "arguments": "{\\"seats\\": 2, \\"cabin\\": \\"economy\\"}"}</tool_call>')
    turn = parse_completion(text, TOOLS, id_prefix="t1")
    assert turn.errors == []
    assert turn.content == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in turn.tool_calls] == [
        ("t1_0", "get_user", {"user_id": "u1"}), ("t1_1", "book", {"seats": 2, "cabin": "economy"})]


def test_plain_json_object_and_list():
    one = parse_completion('{"name": "get_user", "arguments": {"user_id": "a"}}', TOOLS)
    assert [c.name for c in one.tool_calls] == ["get_user"] and not one.errors and one.content == ""
    many = parse_completion('[{"name": "get_user", "parameters": {"user_id": "a"}}, '
                            '{"name": "get_user", "arguments": {"user_id": "b"}}]', TOOLS)
    assert [c.arguments["user_id"] for c in many.tool_calls] == ["a", "b"]


def test_plain_text_stays_text():
    for text in ["Hello there!", '{"answer": 42}', "[1, 2, 3]", "use {braces} freely"]:
        turn = parse_completion(text, TOOLS)
        assert turn.content == text and turn.tool_calls == [] and turn.errors == []


def _single_error(text, truncated=False):
    turn = parse_completion(text, TOOLS, truncated=truncated)
    assert len(turn.errors) == 1, turn
    assert turn.tool_calls[0].id == turn.errors[0][0]  # the error answers a call kept in the transcript
    return turn.tool_calls[0], turn.errors[0][1]


def test_malformed_outputs_become_errors_never_raise():
    call, err = _single_error("<tool_call>{not json}</tool_call>")
    assert call.name == INVALID_CALL and "not valid JSON" in err
    call, err = _single_error('<tool_call>{"name": "launch_rocket", "arguments": {}}</tool_call>')
    assert call.name == "launch_rocket" and "unknown tool" in err and "get_user" in err
    _, err = _single_error('<tool_call>{"name": "book", "arguments": {"seats": "two", "cabin": "economy"}}</tool_call>')
    assert "'seats'" in err and "integer" in err
    _, err = _single_error('<tool_call>{"name": "book", "arguments": {"seats": true, "cabin": "economy"}}</tool_call>')
    assert "integer" in err  # a bool is not an integer
    _, err = _single_error('<tool_call>{"name": "book", "arguments": {"seats": 1, "cabin": "first"}}</tool_call>')
    assert "one of" in err
    _, err = _single_error('<tool_call>{"name": "get_user", "arguments": {}}</tool_call>')
    assert "missing required" in err and "user_id" in err
    _, err = _single_error('<tool_call>{"name": "get_user", "arguments": {"user_id": "a", "x": 1}}</tool_call>')
    assert "unexpected" in err
    _, err = _single_error('<tool_call>{"name": "book", "arguments": {"seats": 1, "cabin": "economy", '
                           '"passengers": [{"nom": "x"}]}}</tool_call>')
    assert "item 0" in err
    _, err = _single_error('<tool_call>{"name": "get_user", "arguments": [1]}</tool_call>')
    assert "must be a JSON object" in err
    _, err = _single_error('<tool_call>["get_user"]</tool_call>')
    assert "JSON object" in err
    _, err = _single_error('<tool_call>{"name": "get_user", "arguments": {"user_id": "a"', truncated=True)
    assert "cut off" in err
    _, err = _single_error('{"name": "get_user", "arguments": {"user_id": ')
    assert "not valid JSON" in err
    _, err = _single_error("   ")
    assert "empty" in err


def test_valid_and_invalid_calls_in_one_turn():
    text = ('<tool_call>{"name": "get_user", "arguments": {"user_id": "a"}}</tool_call>'
            '<tool_call>{"name": "nope", "arguments": {}}</tool_call>')
    turn = parse_completion(text, TOOLS, id_prefix="x")
    assert [c.name for c in turn.tool_calls] == ["get_user", "nope"]
    assert [e[0] for e in turn.errors] == ["x_1"]


def test_nullable_and_schemaless():
    assert check_arguments("book", {"seats": 1, "cabin": "economy", "note": None}, TOOLS[1]["function"]["parameters"]) is None
    assert check_arguments("free", {"anything": [1]}, {}) is None


def test_parse_native_openai_calls():
    calls = [{"id": "c9", "type": "function", "function": {"name": "get_user", "arguments": '{"user_id": "z"}'}},
             {"id": "c10", "type": "function", "function": {"name": "get_user", "arguments": "{oops"}}]
    turn = parse_native(None, calls, TOOLS)
    assert turn.tool_calls[0] == ToolCall(id="c9", name="get_user", arguments={"user_id": "z"})
    assert turn.errors and turn.errors[0][0] == "c10"


_args = st.dictionaries(st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=6),
                        st.one_of(st.integers(-5, 5), st.text(max_size=8), st.booleans(), st.none()), max_size=3)
_calls = st.lists(st.builds(lambda n, a: ToolCall(id="", name=n, arguments=a),
                            st.sampled_from(["f", "get_user", "book_flight"]), _args), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(content=st.one_of(st.just(""), st.text(st.characters(categories=["L", "Zs"]), min_size=1, max_size=20)
                         .map(str.strip).filter(bool)), calls=_calls)
def test_round_trip_records_through_text(content, calls):
    text = render_tool_calls(content, calls)
    turn = parse_completion(text, None, id_prefix="r")
    assert turn.errors == []
    assert turn.content == content
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [(c.name, c.arguments) for c in calls]


def test_canonical_text_is_what_the_template_renders(tiny_tokenizer):
    calls = [ToolCall(id="a", name="get_user", arguments={"user_id": "é1"}), ToolCall(id="b", name="f")]
    for content in ["", "Checking."]:
        msg = Message(role="assistant", content=content or None, tool_calls=calls)
        rendered = render_text(tiny_tokenizer, to_chat_messages([msg]), None, add_generation_prompt=False)
        assert rendered == f"<|im_start|>assistant\n{render_tool_calls(content, calls)}<|im_end|>\n"


def test_records_to_chat_and_wire():
    msgs = [Message(role="assistant", tool_calls=[ToolCall(id="1", name="f", arguments={"a": 1})]),
            Message(role="tool", content="ok", tool_call_id="1")]
    chat = to_chat_messages(msgs)
    assert chat[0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert chat[1] == {"role": "tool", "content": "ok", "tool_call_id": "1"}
    wire = to_openai_wire(chat)
    assert json.loads(wire[0]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    assert chat[0]["tool_calls"][0]["function"]["arguments"] == {"a": 1}  # not mutated
