"""MT-bench single-answer grading with FastChat's judge prompts, verdict parsing and averages."""

from evaluation.mtbench.grading import Grading, grade, read_judgments, write_judgments
from evaluation.mtbench.prompts import SINGLE_PROMPTS, SingleMatch, build_single
from evaluation.mtbench.results import Scores, summarize
from evaluation.mtbench.verdict import MISSING, parse_rating

__all__ = [
    "MISSING",
    "SINGLE_PROMPTS",
    "Grading",
    "Scores",
    "SingleMatch",
    "build_single",
    "grade",
    "parse_rating",
    "read_judgments",
    "summarize",
    "write_judgments",
]
