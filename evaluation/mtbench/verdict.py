"""The score in an MT-bench single-answer verdict, as FastChat's `run_judge_single` reads it:
the first `[[x]]` (`one_score_pattern`), else the first `[x]` (`one_score_pattern_backup`),
x a number `\\d+\\.?\\d*`; none: MISSING (-1), which `show_result.py` drops.

FastChat keeps any number it finds (no 1..10 range check) and so does this; its
`ast.literal_eval` makes "8" an int and "8.5" / "8." floats, as here. (FastChat raises on a
leading zero such as "[[08]]"; here that is 8.)
"""

from __future__ import annotations

import re

MISSING = -1  # FastChat's rating for a verdict with no score
ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


def parse_rating(judgment: str) -> int | float:
    match = ONE_SCORE.search(judgment) or ONE_SCORE_BACKUP.search(judgment)
    if match is None:
        return MISSING
    text = match.group(1)
    return float(text) if "." in text else int(text)
