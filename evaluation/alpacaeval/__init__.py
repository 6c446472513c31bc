"""AlpacaEval 2 (`weighted_alpaca_eval_gpt4_turbo`): prompts, preferences, annotations and metrics.

Named `alpacaeval` so as not to shadow the `alpaca_eval` package it calls."""

from evaluation.alpacaeval.protocol import (
    ALPACA_EVAL_SEED,
    ANNOTATOR,
    Parser,
    Preference,
    annotate,
    build_requests,
    load_protocol,
    preference_from_logprobs,
    preference_from_text,
)
from evaluation.alpacaeval.scores import metrics

__all__ = [
    "ALPACA_EVAL_SEED",
    "ANNOTATOR",
    "Parser",
    "Preference",
    "annotate",
    "build_requests",
    "load_protocol",
    "metrics",
    "preference_from_logprobs",
    "preference_from_text",
]
