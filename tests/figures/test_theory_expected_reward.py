"""The check-2 heat map on a tiny configuration: the same code path as `python -m figures
theory_expected_reward` (whose CLI test is slow)."""

import csv
from dataclasses import replace

import pytest

from figures.theory_expected_reward import render
from theory.checks.instances import EXACT, fixed_k_strategies
from theory.checks.policy import Ledger, PolicyConfig, evaluate, findings
from theory.policy_model import POLICY_MODELS

TINY = {
    "instances": 2,
    "k": 4,
    "families": ("islands_bump", "mistake_cluster"),
    "bandwidth_sweep": (),
}


def test_heat_map_and_its_table(tmp_path):
    """The figure writes PNG, meta JSON and a CSV with one row per family x model x rule, each
    row's mean and CI equal to check 2's findings for the same configuration and seed.

    Guards: a table whose rows are mislabelled (a rule's numbers under another rule or model),
    or a figure drawn from other numbers than the check reports.
    """
    cfg = replace(PolicyConfig(), **TINY)
    paths = render(tmp_path, cfg, seed=5)
    assert {p.suffix for p in paths} == {".png", ".json", ".csv"}
    png = tmp_path / "theory_expected_reward.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(tmp_path / "theory_expected_reward.csv") as f:
        rows = list(csv.DictReader(f))
    rules = {*fixed_k_strategies(), EXACT}
    assert len(rows) == len(TINY["families"]) * len(POLICY_MODELS) * len(rules)
    table = findings(cfg, evaluate(cfg, 5, Ledger(5)))["table"]
    for row in rows:
        cell = table[row["family"]][row["model"]][row["rule"]]["gain"]
        assert float(row["mean_gain"]) == pytest.approx(cell["mean"], rel=1e-12)
        assert float(row["ci95_low"]) <= float(row["mean_gain"]) <= float(row["ci95_high"])
        assert int(row["pools"]) == 2
