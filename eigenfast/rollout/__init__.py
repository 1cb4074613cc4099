"""The rollout engine: agent <-> user simulator <-> environment episodes, many at once, token-in/token-out."""

from eigenfast.rollout.agent import LLMAgent, agent_system_prompt
from eigenfast.rollout.episode import AGENT_GREETING, Limits, run_episode
from eigenfast.rollout.orchestrator import RolloutSummary, rollout
from eigenfast.rollout.scoring import Scorer
from eigenfast.rollout.user import LLMUser, ReplayUser, ScriptedUser

__all__ = ["AGENT_GREETING", "LLMAgent", "LLMUser", "Limits", "ReplayUser", "RolloutSummary", "Scorer",
           "ScriptedUser", "agent_system_prompt", "rollout", "run_episode"]
