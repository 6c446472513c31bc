"""Recipes: small YAML diffs from the defaults, validated against the two registries."""

from __future__ import annotations

import pytest

from selection import STRATEGIES
from training.config import load_recipe, parse_overrides, recipe_names
from training.losses import get_loss

PAPER_RECIPES = [n for n in recipe_names() if n != "tiny"]


def test_every_paper_recipe_exists():
    for base in ("llama3-8b-instruct", "mistral-7b-instruct"):
        for method in ("ampo-coreset", "ampo-optselect", "ampo-bottomk", "simpo", "dpo", "mmpo"):
            assert f"{base}-{method}" in PAPER_RECIPES


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_recipe_resolves_to_registered_loss_and_strategy(name):
    r = load_recipe(name)
    get_loss(r.train.loss).config(**r.train.loss_options)  # raises on an unknown field
    assert r.select.strategy in STRATEGIES
    assert r.select.k == (2 if r.select.strategy == "best_worst" else 8)
    assert r.name == name and r.run_dir.endswith(name)


def test_values_the_papers_publish():
    simpo = load_recipe("llama3-8b-instruct-simpo").train
    assert (simpo.loss_options, simpo.lr) == ({"beta": 10.0, "gamma_beta_ratio": 0.3}, 1e-6)
    mistral = load_recipe("mistral-7b-instruct-simpo").train
    assert (mistral.loss_options, mistral.lr) == ({"beta": 2.5, "gamma_beta_ratio": 0.1}, 5e-7)
    mmpo = load_recipe("llama3-8b-instruct-mmpo").train
    assert mmpo.loss_options == {"beta": 0.01, "gamma_bt": 2.2}
    assert (mmpo.lr, mmpo.warmup_ratio, mmpo.epochs) == (5e-7, 0.3, 3.0)
    coreset = load_recipe("llama3-8b-instruct-ampo-coreset")
    assert coreset.generate.temperature == 0.8 and coreset.model.name_or_path.startswith("meta")


def test_a_new_loss_drops_the_base_recipes_loss_options():
    """dpo's recipe extends simpo's: simpo's gamma_beta_ratio must not leak into DPO."""
    assert load_recipe("llama3-8b-instruct-dpo").train.loss_options == {"beta": 0.01}


def test_overrides_apply_last_and_numbers_are_parsed():
    ov = parse_overrides(
        ["--train.lr", "2e-6", "--select.k=4", "--train.adam_betas", "[0.9, 0.95]"]
    )
    r = load_recipe("llama3-8b-instruct-ampo-coreset", ov)
    assert (r.train.lr, r.select.k, r.train.adam_betas) == (2e-6, 4, (0.9, 0.95))
    assert isinstance(r.train.lr, float)


def test_errors_name_the_recipe_and_key(tmp_path):
    with pytest.raises(ValueError, match=r"recipe .*\.train: unknown key\(s\) lr_max"):
        load_recipe("llama3-8b-instruct-dpo", {"train": {"lr_max": 1}})
    with pytest.raises(ValueError, match="no such file and no shipped recipe"):
        load_recipe("no-such-recipe")
    with pytest.raises(ValueError, match="expected a number, got 'fast'"):
        load_recipe("llama3-8b-instruct-dpo", {"train": {"lr": "fast"}})
    loop = tmp_path / "a.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ValueError, match="loops"):
        load_recipe(str(loop))
    with pytest.raises(ValueError, match="missing value"):
        parse_overrides(["--train.lr"])
