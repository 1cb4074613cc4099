"""tau²-compatible evaluation: reward components, the reward_basis product, pass^k and gold replay."""

from eigenfast.evaluation.components import action_matches, env_outcome
from eigenfast.evaluation.judge import Judge, NLVerdict, judge_messages, parse_verdicts, transcript
from eigenfast.evaluation.metrics import is_success, pass_hat_k
from eigenfast.evaluation.reward import ALL_COMPONENTS, evaluate_episode

__all__ = [
    "ALL_COMPONENTS",
    "Judge",
    "NLVerdict",
    "action_matches",
    "env_outcome",
    "evaluate_episode",
    "is_success",
    "judge_messages",
    "parse_verdicts",
    "pass_hat_k",
    "transcript",
]
