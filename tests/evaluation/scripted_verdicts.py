"""Known verdicts for the harness tests: a reply per judge request, recognised from its prompt.

AlpacaEval: `MODEL_WINS[instruction]` is the probability q that the judge gives the model's
output; the top-5 log-probs put q on the identifier ("m" or "M") under which the model's output
sits in that prompt, so the preference after the order swap is undone is 1 + q whatever the
order. MT-bench: `VERDICTS[(question_id, turn)]` is the judgment text (one never parseable).
"""

from __future__ import annotations

import math
import re

from bench_files import A_CONV, BASELINE

ROWS = [
    *BASELINE,
    {
        "dataset": "selfinstruct",
        "instruction": "Define entropy.",
        "output": "Disorder.",
        "generator": "gpt4_1106_preview",
    },
]
# is_swapped(instruction) (alpaca_eval's seed 123): the model's output is shown first ("m")
SWAPPED = [False, True, True, False]
MODEL_WINS = {  # q per instruction -> preference 1 + q
    "Name a Broadway actor.": 0.8,
    "Explain tides.": 0.0,  # the model's identifier is not in the top-5 at all
    "Write a haiku about rain.": 0.25,
    "Define entropy.": 0.5,
}
# preferences 1.8, 1.0, 1.25, 1.5 (baseline = output_1)
# win rate = mean(p - 1) x 100 = (.8 + 0 + .25 + .5) / 4 x 100 = 1.55 / 4 x 100 = 38.75
# standard error: deviations from .3875 are .4125, -.3875, -.1375, .1125; squares sum
#   .17015625 + .15015625 + .01890625 + .01265625 = .351875; sqrt(.351875 / 3) / sqrt(4)
#   = .342479 / 2 = .171240 -> 17.1240
# discrete: 1.8 model, 1.0 baseline, 1.25 baseline, 1.5 draw -> (1 + .5) / 4 = 37.5
WIN_RATE, STANDARD_ERROR, DISCRETE_WIN_RATE = 38.75, 17.1240, 37.5
COUNTS = {"model_wins": 1, "baseline_wins": 2, "draws": 1}

UNPARSEABLE = "I cannot rate this answer."
VERDICTS = {
    (81, 1): "Rating: [[8]]",
    (101, 1): "Rating: [[6]]",
    (111, 1): "Rating: [[4]]",
    (81, 2): "The answer is fine. Rating: [[9]]",
    (101, 2): UNPARSEABLE,  # through every retry: missing, dropped from the averages
    (111, 2): "Rating: [[2]]",
}
# turn 1: (8 + 6 + 4) / 3 = 6; turn 2: (9 + 2) / 2 = 5.5 (101's missing verdict dropped)
# overall: the 5 kept rows, (8 + 6 + 4 + 9 + 2) / 5 = 5.8 (not (6 + 5.5) / 2 = 5.75)
# writing (81): (8 + 9) / 2 = 8.5; reasoning (101): 6 / 1 = 6; math (111): (4 + 2) / 2 = 3
MT_BENCH = {
    "turn_1": 6.0,
    "turn_2": 5.5,
    "overall": 5.8,
    "by_category": {"writing": 8.5, "reasoning": 6.0, "math": 3.0},
    "n_rows": 5,
    "n_missing": 1,
}
N_ALPACA_REQUESTS, N_MT_BENCH_REQUESTS = 4, 6 + 2  # 6 (question, turn); 2 retries of one

_INSTRUCTION = re.compile(r'"instruction": """(.*?)""",\n}', re.S)
_FIRST = re.compile(r'"model_identifier": "m",\n\s*"output": """(.*?)"""\n\s*},', re.S)
_QUESTION = re.compile(r"(?:\[Question\]\n|### User:\n)Q1([wrm])")
_QID = {"w": 81, "r": 101, "m": 111}


def alpaca_reply(user: str):
    instruction = _INSTRUCTION.search(user).group(1)
    baseline = next(r["output"] for r in ROWS if r["instruction"] == instruction)
    model_first = _FIRST.search(user).group(1) != baseline
    q = MODEL_WINS[instruction]
    model_token, baseline_token = ("m", "M") if model_first else ("M", "m")
    top = [("A", math.log(0.05)), ("x", math.log(0.01))]  # ignored: neither identifier
    if q > 0:
        top.append((model_token, math.log(0.9 * q)))  # 0.9: the parser renormalises
    if q < 1:
        top.append((baseline_token, math.log(0.9 * (1 - q))))
    top.sort(key=lambda t: -t[1])
    return top[0][0], top


def mt_bench_key(user: str) -> tuple[int, int]:
    """(question_id, turn) of an MT-bench judge prompt (turn 2 shows the whole conversation)."""
    return _QID[_QUESTION.search(user).group(1)], 2 if A_CONV in user else 1


def reply(body: dict):
    """The scripted judge server's `answer`: (text, top log-probs) per request."""
    user = body["messages"][-1]["content"]
    if body.get("logprobs"):
        return alpaca_reply(user)
    return VERDICTS[mt_bench_key(user)], []
