"""AlpacaEval 2's `weighted_alpaca_eval_gpt4_turbo` protocol on top of the judge client.

The protocol is read at run time from the installed alpaca_eval package (its evaluator config and
prompt template are data, never vendored): the pair goes into `alpaca_eval_clf.txt` with the two
outputs in a seeded random order, the judge answers one token (max_tokens 1, top-5 log-probs), and the
preference is alpaca_eval's unbinarized `logprob_parser`:

    p_m = exp(lp_m) / (exp(lp_m) + exp(lp_M))   # a token outside the top-5 has probability 0
    preference (prompt order) = 2 - p_m          # "m" names the prompt's first output
    preference (baseline = output_1) = 3 - that, when the order was swapped

so 1 means the baseline wins, 2 the model wins. A judge without log-probs falls back to reading its
answer ("m" or "M"), recorded in `preference_parser`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib.resources import files

import yaml

from evaluation.data.alpaca import AlpacaEval, check_outputs_match
from evaluation.judge import Judge, JudgeReply, JudgeRequest

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"


class Preference(float, Enum):
    """alpaca_eval's encoding (output_1 is the baseline)."""

    BASELINE_WINS = 1.0
    DRAW = 1.5
    MODEL_WINS = 2.0


class Parser(str, Enum):
    LOGPROBS = "logprobs"  # alpaca_eval's logprob_parser on the first token's top-k
    TEXT = "text"  # fallback: the judge gave no log-probs; its answer is read


@dataclass(frozen=True)
class Protocol:
    template: str
    numerator_token: str  # names the prompt's first output
    denominator_tokens: tuple[str, ...]
    max_tokens: int
    temperature: float
    top_logprobs: int


@cache
def load_protocol(annotator: str = ANNOTATOR) -> Protocol:
    """The evaluator config and its prompt template, from the installed alpaca_eval."""
    configs = files("alpaca_eval") / "evaluators_configs"
    config = yaml.safe_load((configs / annotator / "configs.yaml").read_text())[annotator]
    if config["fn_completion_parser"] != "logprob_parser":
        raise ValueError(
            f"{annotator}: expected logprob_parser, got {config['fn_completion_parser']}"
        )
    parser, kwargs = config["completion_parser_kwargs"], config["completions_kwargs"]
    if parser.get("is_binarize", True):
        raise ValueError(f"{annotator}: expected an unbinarized parser")
    return Protocol(
        template=(configs / config["prompt_template"]).read_text(),
        numerator_token=parser["numerator_token"],
        denominator_tokens=tuple(parser["denominator_tokens"]),
        max_tokens=int(kwargs["max_tokens"]),
        temperature=float(kwargs["temperature"]),
        top_logprobs=int(kwargs["top_logprobs"]),
    )


ALPACA_EVAL_SEED = 123  # RandomSwitchTwoColumnsProcessor's default: alpaca_eval's own orders


def is_swapped(instruction: str, seed: int = ALPACA_EVAL_SEED) -> bool:
    """Whether the model's output is shown first: alpaca_eval's RandomSwitchTwoColumnsProcessor
    choice, seeded on the instruction (seed 123 gives the orders alpaca_eval itself uses)."""
    from alpaca_eval.utils import random_seeded_choice

    return random_seeded_choice(
        seed="is_switched_outputs" + instruction + str(seed), choices=[False, True]
    )


def format_messages(instruction: str, first: str, second: str) -> tuple[dict, ...]:
    """The template filled as alpaca_eval fills it (first occurrence of each placeholder), as chat."""
    from alpaca_eval.utils import prompt_to_chatml

    prompt = load_protocol().template
    for key, value in (("instruction", instruction), ("output_1", first), ("output_2", second)):
        prompt = prompt.replace("{" + key + "}", value, 1)
    return tuple(prompt_to_chatml(prompt))


@dataclass(frozen=True)
class PairRequest:
    request: JudgeRequest
    swapped: bool  # True: the model's output is the prompt's first ("m")


def build_requests(
    instructions, model_outputs, baseline_outputs, seed: int = ALPACA_EVAL_SEED
) -> list[PairRequest]:
    """One judge request per instruction, the two outputs in a seeded random order."""
    protocol = load_protocol()
    pairs = []
    for instruction, model, baseline in zip(
        instructions, model_outputs, baseline_outputs, strict=True
    ):
        swapped = is_swapped(instruction, seed)
        first, second = (model, baseline) if swapped else (baseline, model)
        request = JudgeRequest(
            format_messages(instruction, first, second),
            temperature=protocol.temperature,
            max_tokens=protocol.max_tokens,
            top_logprobs=protocol.top_logprobs,
        )
        pairs.append(PairRequest(request, swapped))
    return pairs


def _unswap(preference: float, swapped: bool) -> float:
    return 3.0 - preference if swapped else preference


def preference_from_logprobs(top_logprobs, swapped: bool) -> float | None:
    """alpaca_eval's unbinarized logprob_parser, then the order undone; None: neither identifier
    is in the top-k (alpaca_eval's NaN)."""
    protocol = load_protocol()
    wanted = {protocol.numerator_token, *protocol.denominator_tokens}
    found = {token: lp for token, lp in top_logprobs if token in wanted}
    if not found:
        return None
    denominator = sum(math.exp(found[t]) for t in protocol.denominator_tokens if t in found)
    p_first = math.exp(found.get(protocol.numerator_token, -math.inf)) / denominator
    return _unswap(2.0 - p_first, swapped)


def preference_from_text(text: str, swapped: bool) -> float | None:
    """Fallback for a judge without log-probs: its answer must be exactly one identifier."""
    protocol = load_protocol()
    answer = text.strip()
    first, second = (
        protocol.numerator_token,
        next(t for t in protocol.denominator_tokens if t != protocol.numerator_token),
    )
    if answer == first:
        return _unswap(Preference.BASELINE_WINS, swapped)
    if answer == second:
        return _unswap(Preference.MODEL_WINS, swapped)
    return None


def parse_reply(reply: JudgeReply, swapped: bool) -> tuple[float | None, Parser]:
    if reply.top_logprobs is None:
        return preference_from_text(reply.text, swapped), Parser.TEXT
    return preference_from_logprobs(reply.top_logprobs, swapped), Parser.LOGPROBS


def annotate(judge: Judge, bench: AlpacaEval, outputs, seed: int = ALPACA_EVAL_SEED) -> list[dict]:
    """alpaca_eval `annotations.json` rows (baseline as output_1), one per instruction, in order."""
    outputs = list(outputs)
    check_outputs_match(bench, outputs)
    pairs = build_requests(
        bench.instructions, [o.output for o in outputs], [b.output for b in bench.baseline], seed
    )
    replies = judge.judge_many([p.request for p in pairs])
    rows = []
    for baseline, output, pair, reply in zip(bench.baseline, outputs, pairs, replies, strict=True):
        preference, parser = parse_reply(reply, pair.swapped)
        rows.append(
            {
                "dataset": baseline.dataset,
                "instruction": baseline.instruction,
                "output_1": baseline.output,
                "generator_1": baseline.generator,
                "output_2": output.output,
                "generator_2": output.generator,
                "annotator": ANNOTATOR,
                "preference": None if preference is None else float(preference),
                "preference_raw_completion": reply.to_dict(),
                "preference_parser": parser.value,
                "is_switched_outputs": pair.swapped,
                "seed": seed,
            }
        )
    return rows
