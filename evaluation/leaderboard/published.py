"""Published numbers, typed in as data: reported by the papers and repositories, NOT measured here.

AlpacaEval 2 numbers use the `weighted_alpaca_eval_gpt4_turbo` annotator (GPT-4-1106-preview) against
the `gpt4_1106_preview` baseline on all 805 instructions; MT-bench numbers use FastChat's GPT-4 single
grading on all 80 questions; Arena-Hard is not run by this package. Each row's `tag` says where the
number was read: SUMMARY ("[S]", the AMPO paper's summary) or README ("[C]", a repository README).
"""

from __future__ import annotations

from dataclasses import dataclass

SUMMARY = "[S]"  # from the paper summary
README = "[C]"  # from the repository README
TAGS = {SUMMARY: "from the paper summary", README: "from the repository README"}

AE2_JUDGE = "weighted_alpaca_eval_gpt4_turbo (GPT-4-1106-preview)"
MT_BENCH_JUDGE = "GPT-4"

AMPO_PAPER = "AMPO paper (Active Multi-Preference Optimization), main results"
SIMPO_README = "SimPO README (github.com/princeton-nlp/SimPO)"
MMPO_README = "MMPO README (Margin Matching Preference Optimization), UltraFeedback"


@dataclass(frozen=True)
class Published:
    method: str
    base_model: str
    ae2_lc: float | None  # AlpacaEval 2 length-controlled win rate, percent
    ae2_wr: float | None  # AlpacaEval 2 win rate, percent
    arena_hard: float | None  # Arena-Hard win rate, percent
    mt_bench: float | None  # MT-bench overall score, 1-10
    source: str
    tag: str
    note: str = ""

    def __post_init__(self):
        if self.tag not in TAGS:
            raise ValueError(f"published {self.method}: tag {self.tag!r} not in {sorted(TAGS)}")
        if not self.source:
            raise ValueError(f"published {self.method}: no source")


_L3I = "Llama-3-8B-Instruct"
_V02 = "ArmoRM-labelled data"
_UC = "Llama base is an UltraChat SFT model, kykim0/llama3-8b-ultrachat-sft-itt"

PUBLISHED: tuple[Published, ...] = (
    # AMPO paper [S]: AE2 LC / AE2 WR / Arena-Hard / MT-Bench
    Published(
        "base (no preference optimization)", _L3I, 28.4, 28.4, 26.9, 7.93, AMPO_PAPER, SUMMARY
    ),
    Published("best-vs-worst (SimPO)", _L3I, 47.6, 44.7, 34.6, 7.51, AMPO_PAPER, SUMMARY),
    Published("AMPO-Bottom-k", _L3I, 50.8, 50.5, 35.3, 8.11, AMPO_PAPER, SUMMARY),
    Published("AMPO-Coreset", _L3I, 52.4, 52.1, 39.4, 8.12, AMPO_PAPER, SUMMARY),
    Published("AMPO-OptSelect", _L3I, 51.6, 51.2, 37.9, 7.96, AMPO_PAPER, SUMMARY),
    # SimPO README [C]: AE2 LC / WR / Arena-Hard
    Published("SFT", _L3I, 26.0, 25.3, 22.3, None, SIMPO_README, README),
    Published("DPO", _L3I, 40.3, 37.9, 32.6, None, SIMPO_README, README),
    Published("SimPO", _L3I, 44.7, 40.5, 33.8, None, SIMPO_README, README),
    Published("DPO (v0.2)", _L3I, 48.2, 47.5, 35.2, None, SIMPO_README, README, _V02),
    Published("SimPO (v0.2)", _L3I, 53.7, 47.5, 36.5, None, SIMPO_README, README, _V02),
    Published("SFT", "Mistral-7B-Instruct", 17.1, 14.7, 12.6, None, SIMPO_README, README),
    Published("DPO", "Mistral-7B-Instruct", 26.8, 24.9, 16.3, None, SIMPO_README, README),
    Published("SimPO", "Mistral-7B-Instruct", 32.1, 34.8, 21.0, None, SIMPO_README, README),
    # MMPO README [C]: MT-bench, UltraFeedback, DPO -> MMPO
    Published("DPO", "Gemma-2B", None, None, None, 6.09, MMPO_README, README),
    Published("MMPO", "Gemma-2B", None, None, None, 6.10, MMPO_README, README),
    Published("DPO", "Gemma-7B", None, None, None, 7.40, MMPO_README, README),
    Published("MMPO", "Gemma-7B", None, None, None, 7.53, MMPO_README, README),
    Published("DPO", "Llama-3-8B", None, None, None, 7.41, MMPO_README, README, _UC),
    Published("MMPO", "Llama-3-8B", None, None, None, 7.58, MMPO_README, README, _UC),
)
