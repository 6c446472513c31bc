"""One judge client behind a persistent cache; AlpacaEval and MT-bench build prompts and parse
replies on top of it."""

from evaluation.judge.base import Judge, JudgeError, JudgeReply, JudgeRequest
from evaluation.judge.cache import JudgeCache
from evaluation.judge.costs import PRICES_PER_MTOK, Counters
from evaluation.judge.registry import JUDGES, make_judge

__all__ = [
    "JUDGES",
    "PRICES_PER_MTOK",
    "Counters",
    "Judge",
    "JudgeCache",
    "JudgeError",
    "JudgeReply",
    "JudgeRequest",
    "make_judge",
]
