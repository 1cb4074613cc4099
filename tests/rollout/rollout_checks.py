"""Small shared checks for rollout tests."""

from eigenfast.records import Episode
from eigenfast.rollout.episode import AGENT_GREETING


def assert_well_formed(ep: Episode) -> None:
    """tau²'s shape: greeting first, every tool call answered in order by a result with its id, no orphans."""
    msgs = ep.messages
    assert msgs[0].role == "assistant" and msgs[0].content == AGENT_GREETING
    pending: list[str] = []
    for m in msgs:
        if m.role == "tool":
            assert pending and m.tool_call_id == pending.pop(0), m
            continue
        assert not pending, f"tool calls {pending} left unanswered"
        assert m.role in ("assistant", "user")
        if m.tool_calls:
            pending = [c.id for c in m.tool_calls]
            assert all(c.requestor == ("user" if m.role == "user" else "assistant") for c in m.tool_calls)
    assert ep.info["errors"] == sum(m.error for m in msgs if m.role == "tool")
    for seg in ep.segments:
        assert seg.token_ids
        assert (seg.logprobs is not None) == (seg.owner == "agent")
        if seg.logprobs is not None:
            assert len(seg.logprobs) == len(seg.token_ids)
