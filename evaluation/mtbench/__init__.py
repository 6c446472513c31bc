"""MT-bench single-answer grading with FastChat's judge prompts, verdict parsing and averages."""

from evaluation.mtbench.grading import Grading, grade, read_judgments, write_judgments
from evaluation.mtbench.pairwise import PairGrading, WinRate, grade_pair, win_rates
from evaluation.mtbench.prompts import SINGLE_PROMPTS, SingleMatch, build_single
from evaluation.mtbench.results import Scores, summarize
from evaluation.mtbench.verdict import MISSING, parse_rating

__all__ = [
    "MISSING",
    "SINGLE_PROMPTS",
    "Grading",
    "PairGrading",
    "Scores",
    "SingleMatch",
    "WinRate",
    "build_single",
    "grade",
    "grade_pair",
    "parse_rating",
    "read_judgments",
    "summarize",
    "win_rates",
    "write_judgments",
]
