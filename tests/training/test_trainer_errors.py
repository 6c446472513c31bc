"""The trainer's refusals: each names what is wrong and, where there is a choice, the choices
(taken from the registries, never typed here)."""

from __future__ import annotations

import json

import pytest
from trainer_files import make_groups, run_trainer, write_groups, write_recipe

from training.batching import LAYOUTS
from training.distributed import STRATEGIES
from training.losses import LOSSES
from training.trainer import PRECISIONS

AMPO = dict(loss="ampo", loss_options=dict(beta=2.0, gamma=0.5), batch_size=2, grad_accum=2)


@pytest.fixture(scope="module")
def files(tiny_model_dir, tiny_ref_model_dir, tmp_path_factory):
    """(folder, groups with ref_logps and lengths, groups without, model dir)."""
    root = tmp_path_factory.mktemp("errors")
    groups = make_groups(4, (3, 2), seed=5)
    with_ref = write_groups(root / "with-ref.jsonl", groups, tiny_ref_model_dir)
    plain = write_groups(root / "plain.jsonl", groups, None)
    return root, with_ref, plain, tiny_model_dir


def edit_records(src, dest, edit):
    """Copy a groups file, `edit(record)` applied to every record (edit returns the record)."""
    lines = [json.dumps(edit(json.loads(line))) for line in src.read_text().splitlines()]
    dest.write_text("\n".join(lines) + "\n")
    return dest


def train(files, groups, tmp_path, **train):
    *_, model_dir = files
    recipe = write_recipe(tmp_path / "recipe.yaml", model_dir, AMPO | train)
    return run_trainer(recipe, groups, tmp_path / "out")


@pytest.mark.parametrize("max_steps", [None, 5])
def test_too_few_groups_for_one_global_batch(files, tmp_path, max_steps):
    """3 groups, global batch 2 x 2 x 1: by epochs (no step at all) or by max_steps."""
    _, _, plain, _ = files
    three = tmp_path / "three.jsonl"
    three.write_text("".join(plain.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(
        ValueError,
        match=r"3 groups do not fill one global batch of 4 \(batch_size 2 x grad_accum 2 x world 1\)",
    ):
        train(files, three, tmp_path, max_steps=max_steps)


@pytest.mark.parametrize(
    ("loss", "options"),
    [("dpo", dict(beta=0.1)), ("ampo", dict(beta=2.0, gamma=0.5, score="log_ratio"))],
)
def test_loss_needing_ref_logps_names_the_file_and_the_group(files, tmp_path, loss, options):
    """Only p2 lacks them: the error names the file and p2."""
    _, with_ref, _, _ = files

    def drop_p2(record):
        if record["prompt_id"] == "p2":
            del record["ref_logps"], record["lengths"]
        return record

    groups = edit_records(with_ref, tmp_path / "partial.jsonl", drop_p2)
    with pytest.raises(ValueError, match="needs ref_logps") as err:
        train(files, groups, tmp_path, loss=loss, loss_options=options, max_steps=1)
    assert str(groups) in str(err.value) and "'p2'" in str(err.value)


@pytest.mark.parametrize(
    ("field", "valid"),
    [
        ("loss", tuple(LOSSES)),
        ("layout", tuple(LAYOUTS)),
        ("distributed", STRATEGIES),
        ("precision", tuple(PRECISIONS)),
    ],
)
def test_unknown_choice_lists_the_valid_names(files, tmp_path, field, valid):
    _, _, plain, _ = files
    with pytest.raises(ValueError, match="nonesuch") as err:
        train(files, plain, tmp_path, max_steps=1, **{field: "nonesuch"})
    for name in valid:
        assert name in str(err.value), (name, str(err.value))


def test_recorded_lengths_unlike_the_tokenizers_name_the_group(files, tmp_path):
    """p1's first response recorded one token longer than this tokenizer makes it (as if the
    ref-logps stage ran with another tokenizer)."""
    _, with_ref, _, _ = files

    def lengthen_p1(record):
        if record["prompt_id"] == "p1":
            record["lengths"][0] += 1
        return record

    groups = edit_records(with_ref, tmp_path / "lengths.jsonl", lengthen_p1)
    with pytest.raises(ValueError, match="recorded response lengths") as err:
        train(files, groups, tmp_path, loss="dpo", loss_options=dict(beta=0.1), max_steps=1)
    assert str(groups) in str(err.value) and "'p1'" in str(err.value)
