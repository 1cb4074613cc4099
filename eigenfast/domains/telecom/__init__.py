"""tau² telecom domain: a carrier's support back office (agent tools) and the customer's phone (user tools).

The agent fixes service, mobile-data and MMS problems by guiding the user through settings on their
simulated phone and by changing the carrier's records; tasks are graded by assertions on the phone's
state. `sync` keeps the two sides consistent after every call.
"""

from __future__ import annotations

from pathlib import Path

from eigenfast.domains.spec import DomainSpec
from eigenfast.domains.telecom.agent_tools import AgentTools
from eigenfast.domains.telecom.schema import complete_db, complete_user_db
from eigenfast.domains.telecom.sync import sync
from eigenfast.domains.telecom.user_tools import UserTools

POLICY_VARIANTS = {
    None: ("main_policy.md", "tech_support_manual.md"),
    "manual": ("main_policy.md", "tech_support_manual.md"),
    "workflow": ("main_policy.md", "tech_support_workflow.md"),
    "solo": ("main_policy_solo.md", "tech_support_manual.md"),
    "solo-workflow": ("main_policy_solo.md", "tech_support_workflow_solo.md"),
}


def policy(domain_dir: Path, variant: str | None = None) -> str:
    """The agent policy as tau² assembles it: the main policy, then the tech-support policy, each tagged.

    Variants: None or "manual" (the default manual), "workflow" (tau²'s telecom-workflow), "solo" and
    "solo-workflow" (the solo-mode texts, for an agent that also operates the phone).
    """
    if variant not in POLICY_VARIANTS:
        known = ", ".join(repr(v) for v in POLICY_VARIANTS)
        raise ValueError(f"unknown telecom policy variant {variant!r}; expected one of {known}")
    main_file, support_file = POLICY_VARIANTS[variant]
    main = (Path(domain_dir) / main_file).read_text(encoding="utf-8")
    support = (Path(domain_dir) / support_file).read_text(encoding="utf-8")
    return (f"<main_policy>\n{main}\n</main_policy>\n"
            f"<tech_support_policy>\n{support}\n</tech_support_policy>")


SPEC = DomainSpec(
    name="telecom",
    db_file="db.toml",
    agent_tools=AgentTools,
    user_db_file="user_db.toml",
    user_tools=UserTools,
    policy=policy,
    sync=sync,
    prepare_db=complete_db,
    prepare_user_db=complete_user_db,
)

__all__ = ["SPEC", "AgentTools", "UserTools", "policy", "sync"]
