"""The leaderboard over `results/`: estimates equal alpaca_eval's and FastChat's own numbers, pairs
only across the same judge and data, the md / csv say what they should (the csv parsed back), a
malformed metrics.json names its file and field, published numbers are typed in exactly, and the
figure is drawn (or skipped with its message)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from leaderboard_results import (
    PREFS_AMPO,
    PREFS_SIMPO,
    SCORES_AMPO,
    annotations,
    judgment_rows,
    mt_bench,
    write_alpaca_run,
    write_mt_run,
    write_results,
)

from evaluation.alpacaeval import metrics
from evaluation.data.files import BenchmarkDataError
from evaluation.leaderboard import collect, paired, write_leaderboard
from evaluation.leaderboard.published import PUBLISHED, README, SUMMARY
from evaluation.mtbench.results import summarize
from figures.leaderboard import SKIPPED, draw

N_BOOT = 500  # the tests' resamples: enough for the checks, fast


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def runs(results):
    return {(r.run, r.bench): r for r in collect(results, n_boot=N_BOOT)}


def test_alpaca_estimate_is_alpaca_evals_win_rate(runs, tmp_path):
    """Unit value (preference - 1) * 100: the mean over judged instructions equals get_winrate's
    (via `evaluation.alpacaeval.metrics`); by hand 6.45 / 10 = 64.5% and 2.8 / 9 = 31.11%."""
    for run, prefs, by_hand in [("ampo", PREFS_AMPO, 64.5), ("simpo", PREFS_SIMPO, 280 / 9)]:
        reference = metrics(annotations(prefs), df_gamed=tmp_path / "absent.csv")["win_rate"]
        wr = runs[run, "alpaca_eval"].scores.win_rate
        assert wr.estimate == pytest.approx(reference, rel=1e-12, abs=1e-12)
        assert wr.estimate == pytest.approx(by_hand)
        assert wr.low < wr.estimate < wr.high
    simpo = runs["simpo", "alpaca_eval"].scores
    assert (simpo.n, simpo.n_failed) == (9, 1)


def test_lc_interval_is_alpaca_evals_standard_error_times_z(runs):
    lc = runs["ampo", "alpaca_eval"].scores.lc
    # 45.0 +- 1.96 * 2.0 = [41.08, 48.92]
    assert (lc.estimate, lc.low, lc.high) == pytest.approx((45.0, 41.08, 48.92), abs=1e-3)
    simpo = runs["simpo", "alpaca_eval"].scores
    assert simpo.lc is None and "df_gamed" in simpo.lc_unavailable


def test_mt_bench_estimate_is_fastchats_overall_with_a_missing_row(runs):
    """FastChat's average over kept rows (the -1 row dropped): 47 / 7, not the mean of the question
    means (6.75) and not with the -1 counted (46 / 8)."""
    rows = judgment_rows(SCORES_AMPO, "ampo", "gpt-4")
    fastchat = summarize(rows, mt_bench())["ampo"]
    s = runs["ampo", "mt_bench"].scores
    assert s.overall.estimate == pytest.approx(fastchat.overall) == pytest.approx(47 / 7)
    assert (s.turn_1, s.turn_2) == pytest.approx((fastchat.turn_1, fastchat.turn_2))
    assert (s.n_questions, s.n_missing) == (4, 1)
    assert s.overall.low < s.overall.estimate < s.overall.high


def test_pairs_only_across_the_same_judge_and_data(runs):
    pairs = {(p.bench, p.run_a, p.run_b): p for p in paired(list(runs.values()), n_boot=N_BOOT)}
    ae = "alpaca_eval"
    same = pairs[ae, "ampo", "simpo"]
    assert same.reason is None and same.n_shared == 10
    # the difference of the two runs' win rates, each over its own judged instructions
    assert same.difference.estimate == pytest.approx(64.5 - 280 / 9)
    assert same.difference.low < same.difference.estimate < same.difference.high
    assert pairs[ae, "ampo", "ampo-subset"].n_shared == 6
    assert pairs[ae, "ampo", "ampo-subset"].difference is not None
    judge = pairs[ae, "ampo", "ampo-judge-b"]
    assert judge.difference is None and "different judge models" in judge.reason
    data = pairs["mt_bench", "simpo", "simpo-other-data"]
    assert data.difference is None and "different data" in data.reason
    assert pairs["mt_bench", "ampo", "simpo"].difference.estimate == pytest.approx(47 / 7 - 4.75)


def _csv_rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_markdown_and_csv(results, runs):
    md_path, csv_path = write_leaderboard(results, n_boot=N_BOOT)
    md = md_path.read_text()
    assert md_path.name == "leaderboard.md" and csv_path.name == "leaderboard.csv"
    sections = [
        "## AlpacaEval 2 — measured",
        "## MT-bench — measured",
        "## Paired differences",
        "## Published — not measured here",
    ]
    assert [md.index(s) for s in sections] == sorted(md.index(s) for s in sections)
    assert "ampo-subset (subset: limit 6)" in md
    assert "| 45.0 ± 3.9 |" in md  # LC 45.0, se 2.0
    assert "n/a (length-controlled win rate unavailable" in md
    assert "ampo vs ampo-judge-b: different judge models" in md
    assert "simpo vs simpo-other-data: different data" in md
    assert "not a bootstrap" in md and "AMPO-Coreset" in md.split("## Published")[1]

    rows = _csv_rows(csv_path)
    measured = {(r["run"], r["bench"]): r for r in rows if r["kind"] == "measured"}
    assert set(measured) == set(runs)
    ampo = measured["ampo", "alpaca_eval"]
    wr = runs["ampo", "alpaca_eval"].scores.win_rate
    assert [float(ampo[k]) for k in ("wr", "wr_low", "wr_high")] == [wr.estimate, wr.low, wr.high]
    assert float(ampo["lc"]) == 45.0 and ampo["limit"] == "" and ampo["n"] == "10"
    simpo = measured["simpo", "alpaca_eval"]
    assert simpo["lc"] == simpo["lc_low"] == "" and simpo["n_missing"] == "1"
    assert measured["ampo-subset", "alpaca_eval"]["limit"] == "6"
    mt = measured["ampo", "mt_bench"]
    assert float(mt["score"]) == pytest.approx(47 / 7) and mt["n_missing"] == "1"
    assert mt["wr"] == "" and float(mt["score_low"]) < float(mt["score"]) < float(mt["score_high"])
    published = [r for r in rows if r["kind"] == "published"]
    coreset = {r["bench"]: r for r in published if r["method"] == "AMPO-Coreset"}
    assert (
        float(coreset["alpaca_eval"]["lc"]) == 52.4 and float(coreset["alpaca_eval"]["wr"]) == 52.1
    )
    assert float(coreset["arena_hard"]["score"]) == 39.4
    assert float(coreset["mt_bench"]["score"]) == 8.12
    assert all(r["wr_low"] == "" and r["source"] and r["tag"] for r in published)
    assert not list(results.glob(".*.tmp"))


def test_published_numbers():
    by = {(p.method, p.base_model, p.source.split()[0]): p for p in PUBLISHED}
    bottom_k = by["AMPO-Bottom-k", "Llama-3-8B-Instruct", "AMPO"]
    assert (bottom_k.ae2_lc, bottom_k.ae2_wr, bottom_k.arena_hard, bottom_k.mt_bench) == (
        50.8,
        50.5,
        35.3,
        8.11,
    )
    simpo_v02 = by["SimPO (v0.2)", "Llama-3-8B-Instruct", "SimPO"]
    assert (simpo_v02.ae2_lc, simpo_v02.ae2_wr, simpo_v02.arena_hard) == (53.7, 47.5, 36.5)
    assert simpo_v02.mt_bench is None
    mistral = by["SimPO", "Mistral-7B-Instruct", "SimPO"]
    assert (mistral.ae2_lc, mistral.ae2_wr, mistral.arena_hard) == (32.1, 34.8, 21.0)
    mmpo = by["MMPO", "Llama-3-8B", "MMPO"]
    assert mmpo.mt_bench == 7.58 and "kykim0/llama3-8b-ultrachat-sft-itt" in mmpo.note
    assert by["DPO", "Gemma-2B", "MMPO"].mt_bench == 6.09
    assert len(PUBLISHED) == 19
    assert all(p.source and p.tag in (SUMMARY, README) for p in PUBLISHED)
    assert {p.tag for p in PUBLISHED if p.source.startswith("AMPO")} == {SUMMARY}


def _edit(path, change):
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda o: o["judge"].pop("model"), "judge.model"),
        (lambda o: o["data"].update(limit="ten"), "data.limit"),
        (lambda o: o["metrics"].update(win_rate=None), "metrics.win_rate"),
        (lambda o: o.update(bench="mt_bench"), "bench"),
    ],
)
def test_malformed_metrics_json_names_file_and_field(tmp_path, change, field):
    path = write_alpaca_run(tmp_path, "ampo", PREFS_AMPO)
    _edit(path, change)
    with pytest.raises(BenchmarkDataError, match=re.escape(f"field '{field}'")) as error:
        collect(tmp_path, n_boot=N_BOOT)
    assert str(path) in str(error.value)


def test_stale_per_item_file_is_an_error(tmp_path):
    """metrics.json's estimate must be the one the saved annotations / judgments give."""
    path = write_alpaca_run(tmp_path, "ampo", PREFS_AMPO)
    _edit(path, lambda o: o["metrics"].update(win_rate=50.0))
    with pytest.raises(BenchmarkDataError, match=re.escape("metrics.json says 50.0")):
        collect(tmp_path, n_boot=N_BOOT)
    path = write_mt_run(tmp_path / "mt", "ampo", SCORES_AMPO)
    _edit(path, lambda o: o["metrics"].update(overall=6.75))
    with pytest.raises(BenchmarkDataError, match=re.escape("field 'metrics.overall'")):
        collect(tmp_path / "mt", n_boot=N_BOOT)


def test_figure_drawn_from_results(results, tmp_path):
    paths = draw(tmp_path, results_dir=results)
    png = tmp_path / "evaluation_leaderboard.png"
    assert png in paths and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((tmp_path / "evaluation_leaderboard.meta.json").read_text())
    assert "ampo/alpaca_eval" in meta["config"]["runs"]


@pytest.mark.parametrize("make", [lambda p: p, lambda p: p / "absent"])
def test_figure_skipped_without_results(tmp_path, capsys, make):
    assert draw(tmp_path / "out", results_dir=make(tmp_path)) == []
    assert SKIPPED in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_an_unscored_run_is_listed_with_its_reason_not_ranked(tmp_path):
    results = write_results(tmp_path / "results")
    failed = results / "all-failed" / "alpaca_eval"
    failed.mkdir(parents=True)
    reason = "every judgment failed (4 of 4): no preference to score"
    (failed / "metrics.json").write_text(json.dumps({"metrics": {"unscored": reason}}))
    assert "all-failed" not in {r.run for r in collect(results, n_boot=N_BOOT)}
    write_leaderboard(results, n_boot=N_BOOT)
    md = (results / "leaderboard.md").read_text()
    assert f"| all-failed | alpaca_eval | {reason} |" in md.split("## Not scored")[1]
    assert "all-failed" not in (results / "leaderboard.csv").read_text()


def test_the_same_judge_model_served_elsewhere_is_another_judge(tmp_path):
    """A local server answering to "gpt-4-1106-preview" is not OpenAI's model: not paired, and
    the table says where it ran."""
    results = tmp_path / "results"
    write_alpaca_run(results, "ampo", PREFS_AMPO)
    write_alpaca_run(results, "local", PREFS_SIMPO, judge_url="http://127.0.0.1:8000/v1")
    (pair,) = paired(collect(results, n_boot=N_BOOT), n_boot=N_BOOT)
    assert pair.difference is None and "different judges" in pair.reason
    write_leaderboard(results, n_boot=N_BOOT)
    md = (results / "leaderboard.md").read_text()
    assert "gpt-4-1106-preview (openai, http://127.0.0.1:8000/v1)" in md
    assert "gpt-4-1106-preview (openai) |" in md
