"""AlpacaEval 2 metrics are alpaca_eval's own: win rate, standard error and discrete win rate equal
`alpaca_eval.metrics.get_winrate` called directly; the length-controlled win rate comes from its
GLM on a df_gamed.csv given by path (a small one of the real columns, built here), and moves the
expected way when the judge prefers longer answers; without the file LC is None with the reason."""

from __future__ import annotations

import pandas as pd
import pytest

from evaluation.alpacaeval import Preference, metrics
from evaluation.alpacaeval.scores import staged_df_gamed

B, M, DRAW = Preference.BASELINE_WINS, Preference.MODEL_WINS, Preference.DRAW


def _rows(preferences, out_1="base", out_2="model"):
    outs_1 = out_1 if isinstance(out_1, list) else [out_1] * len(preferences)
    outs_2 = out_2 if isinstance(out_2, list) else [out_2] * len(preferences)
    return [
        {
            "instruction": f"task {i}",
            "output_1": o1,
            "generator_1": "gpt4_1106_preview",
            "output_2": o2,
            "generator_2": "ampo",
            "annotator": "weighted_alpaca_eval_gpt4_turbo",
            "preference": None if p is None else float(p),
        }
        for i, (p, o1, o2) in enumerate(zip(preferences, outs_1, outs_2, strict=True))
    ]


CRAFTED = [B, M, M, DRAW, 1.25, 1.3, None]
# judged: 6 (the None is dropped); p - 1 = 0, 1, 1, .5, .25, .3 -> win rate = 3.05 / 6 = 50.8333 %
# deviations from .508333: -.508333 .491667 .491667 -.008333 -.258333 -.208333, squares sum .852083
# standard error = sqrt(.852083 / 5) / sqrt(6) = .412815 / 2.449490 = .168531 -> 16.8531 %
# discrete (rounded): baseline, model, model, draw, baseline, baseline -> (2 + .5) / 6 = 41.6667 %


def test_win_rates_equal_alpaca_eval_called_directly(tmp_path):
    from alpaca_eval.metrics import get_winrate

    rows = _rows(CRAFTED)
    m = metrics(rows, df_gamed=tmp_path / "absent.csv")
    direct = get_winrate(pd.DataFrame(rows).astype({"preference": float}))
    for key in ("win_rate", "standard_error", "discrete_win_rate"):
        assert m[key] == pytest.approx(direct[key])
    assert m["win_rate"] == pytest.approx(50.8333, abs=1e-4)
    assert m["standard_error"] == pytest.approx(16.8531, abs=1e-4)
    assert m["discrete_win_rate"] == pytest.approx(41.6667, abs=1e-4)
    assert (m["n"], m["n_failed"]) == (6, 1)
    assert m["counts"] == {"model_wins": 2, "baseline_wins": 3, "draws": 1}


def _df_gamed(path, n, rng):
    """The real columns; the first n rows carry index 0..n-1 (alpaca_eval looks up by position)."""
    frames = []
    for model, sign in (("gamed_verbose", -1.0), ("gamed_concise", 1.0)):
        delta = sign * rng.uniform(0.5, 2.0, n)  # std_delta_len: baseline minus model, standardised
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "index": range(n),
                    "instruction_difficulty": rng.normal(0, 1, n),
                    "std_delta_len": delta,
                    "not_gamed_baseline": False,
                    "preference": (delta < 0).astype(float) * 0.8 + 0.1,  # longer wins
                }
            )
        )
    pd.concat(frames).to_csv(path, index=False)
    return path


def test_lc_discounts_a_judge_that_prefers_longer_answers(tmp_path):
    import numpy as np
    from alpaca_eval.metrics import get_length_controlled_winrate

    rng = np.random.default_rng(0)
    n = 60
    df_gamed = _df_gamed(tmp_path / "df_gamed.csv", n, rng)
    # the model is longer on 45 of 60 instructions and the judge prefers the longer answer
    longer = np.arange(n) % 4 != 0
    model_out = ["x" * (300 if is_long else 40) for is_long in longer]
    prefs = np.where(longer, 1.85, 1.15) + rng.uniform(-0.1, 0.1, n)
    rows = _rows(list(prefs), out_1="y" * 150, out_2=model_out)
    m = metrics(rows, df_gamed=df_gamed)
    assert m["lc_unavailable"] is None
    with staged_df_gamed(df_gamed):  # alpaca_eval called directly: the row position is the index
        direct = get_length_controlled_winrate(pd.DataFrame(rows), save_weights_dir=None)
    assert m["length_controlled_winrate"] == pytest.approx(direct["length_controlled_winrate"])
    assert m["lc_standard_error"] == pytest.approx(direct["lc_standard_error"])
    # WR ~ (45 * .85 + 15 * .15) / 60 = 67.5 %; once length is controlled, nearer 50 %
    assert m["win_rate"] == pytest.approx(67.5, abs=2)
    assert m["length_controlled_winrate"] < m["win_rate"] - 5  # seen: 48.9 vs 68.9
    assert 0 < m["lc_standard_error"]
    # mirrored: the same judge now prefers the shorter answer, so LC rises above WR
    m = metrics(_rows(list(3 - prefs), out_1="y" * 150, out_2=model_out), df_gamed=df_gamed)
    assert m["length_controlled_winrate"] > m["win_rate"] + 5  # seen: 40.7 vs 31.1


def test_same_lengths_lc_stays_near_wr(tmp_path):
    import numpy as np

    rng = np.random.default_rng(1)
    n = 60
    df_gamed = _df_gamed(tmp_path / "df_gamed.csv", n, rng)
    prefs = np.where(np.arange(n) % 4 != 0, 1.85, 1.15)
    lengths = ["x" * (100 + int(k)) for k in rng.integers(-5, 5, n)]  # no length signal
    m = metrics(_rows(list(prefs), out_1="y" * 100, out_2=lengths), df_gamed=df_gamed)
    assert m["length_controlled_winrate"] == pytest.approx(m["win_rate"], abs=5)


def test_lc_unavailable_offline_says_why(tmp_path, monkeypatch):
    import alpaca_eval.constants as ae_constants
    from huggingface_hub import constants as hf_constants

    monkeypatch.setattr(ae_constants, "DEFAULT_CACHE_DIR", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    m = metrics(_rows([M, B, M]))
    assert m["win_rate"] == pytest.approx(200 / 3)  # (1 + 0 + 1) / 3
    assert m["length_controlled_winrate"] is None
    assert m["lc_unavailable"].startswith("length-controlled win rate unavailable")
    assert "tatsu-lab/alpaca_eval/df_gamed.csv" in m["lc_unavailable"]


def test_every_judgment_failed_is_unscored_with_the_reason_not_nan(tmp_path):
    """alpaca_eval gives NaN when no preference is left; the run says why it has no score."""
    out = metrics(_rows([None, None, None]), df_gamed=None)
    assert out["unscored"] == "every judgment failed (3 of 3): no preference to score"
    assert out["win_rate"] is None and out["length_controlled_winrate"] is None
    assert (out["n"], out["n_failed"]) == (0, 3)
    assert metrics(_rows([B, None]), df_gamed=tmp_path / "absent.csv")["unscored"] is None
