"""The select stage on pools made to order: exact duplicates collapsed to their best copy,
short pools dropped and counted by reason, reward-only strategies without embeddings, groups
independent of the file's order, bad strategy names and options refused before any output."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pipeline_helpers import read_jsonl, read_meta, small_recipe, write_jsonl

from training.records import PoolRecord, RecordError
from training.stagefile import StageOutput, partial_paths, read_embeddings, read_records
from training.stages import run_stage

SHORT = "fewer than k=4 distinct responses"


def make_pools(n: int = 10, size: int = 6) -> list[dict]:
    """n pools of `size` distinct responses, then: p00 holds three copies of one text (the best
    copy, reward 7, at index 2), p01 three distinct texts twice each, p02 one text six times."""
    rows = []
    for i in range(n):
        rows.append(
            {
                "prompt_id": f"p{i:02d}",
                "prompt": f"Question {i}: name a river and a city?",
                "responses": [f"answer {i} is the river {j} by the city" for j in range(size)],
                "rewards": [float((5 * j + 3 * i) % 7) for j in range(size)],
            }
        )
    rows[0]["responses"] = ["same", "b", "same", "c", "same", "d"]
    rows[0]["rewards"] = [1.0, 5.0, 7.0, 2.0, 3.0, 4.0]
    rows[1]["responses"] = ["x", "x", "y", "y", "z", "z"]
    rows[2]["responses"] = ["one"] * size
    return rows


@pytest.fixture
def scored(tmp_path):
    return write_jsonl(tmp_path / "scored.jsonl", make_pools())


@pytest.fixture
def embedded(tmp_path, scored, one_thread):
    """The pools through the embed stage (the tiny policy's hidden states)."""
    return run_stage("embed", small_recipe(tmp_path), inp=scored, out=tmp_path / "embedded.jsonl")


def select(tmp_path, inp, *overrides, out="groups.jsonl"):
    out = tmp_path / out
    run_stage("select", small_recipe(tmp_path, *overrides), inp=inp, out=out)
    return out


@pytest.mark.parametrize("strategy", ["top_k", "ampo_coreset"])
def test_exact_duplicates_keep_their_best_copy_and_short_pools_are_dropped(
    strategy, tmp_path, scored, embedded
):
    out = select(tmp_path, embedded, "--select.strategy", strategy)
    groups = {g["prompt_id"]: g for g in read_jsonl(out)}
    assert sorted(groups) == ["p00"] + [f"p{i:02d}" for i in range(3, 10)]
    g = groups["p00"]  # 4 distinct texts for k = 4: all of them, "same" by its best copy
    rewards_and_indices = zip(g["rewards"], g["extra"]["pool_indices"], strict=True)
    picked = dict(zip(g["responses"], rewards_and_indices, strict=True))
    assert picked == {"same": (7.0, 2), "b": (5.0, 1), "c": (2.0, 3), "d": (4.0, 5)}
    assert g["responses"][g["positive"]] == "same"
    counts = read_meta(out)["counts"]
    assert counts["exact_duplicates"] == 2 + 3 + 5
    assert counts["dropped"] == {SHORT: 2}
    assert counts["records"] == 8


def test_reward_only_strategies_need_no_embeddings(tmp_path, scored):
    assert not (tmp_path / "scored.emb.npy").exists()
    for strategy, k in (("bottom_k", "4"), ("best_worst", "2"), ("random", "4")):
        out = select(tmp_path, scored, "--select.strategy", strategy, "--select.k", k, out=strategy)
        groups = read_jsonl(out)
        assert len(groups) == (8 if k == "4" else 9)  # p02 (one text) is short for any k
        assert all(len(g["responses"]) == int(k) for g in groups)
        assert [i["path"] for i in read_meta(out)["inputs"]] == [scored]
    pairs = {g["prompt_id"]: g for g in read_jsonl(tmp_path / "best_worst")}
    for g in pairs.values():
        assert g["rewards"][g["positive"]] == max(g["rewards"]) and len(set(g["rewards"])) == 2


def test_a_strategy_that_needs_embeddings_names_the_embed_stage_and_the_alternatives(
    tmp_path, scored
):
    with pytest.raises(FileNotFoundError, match=r"scored\.emb\.npy.*run the embed stage") as err:
        select(tmp_path, scored, "--select.strategy", "kcenter")
    assert "bottom_k" in str(err.value) and "ampo_coreset" not in str(err.value).split(":")[-1]
    assert not (tmp_path / "groups.jsonl").exists()
    assert not any(p.exists() for p in partial_paths(tmp_path / "groups.jsonl"))


def _shuffled(src, dest, seed=3):
    """The pools of `src` (and their embeddings) in another order."""
    records = list(read_records(src, "pool"))
    emb = read_embeddings(src)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    with StageOutput(dest, kind="pool", config={"shuffled": seed}, embeddings="float32") as out:
        out.write(
            [records[i] for i in order],
            embeddings=[np.asarray(emb[i, : len(records[i].responses)]) for i in order],
        )
    return dest


@pytest.mark.parametrize("strategy", ["random", "ampo_coreset"])
def test_a_prompts_group_does_not_depend_on_the_order_of_the_file(
    strategy, tmp_path, embedded, monkeypatch
):
    shuffled = _shuffled(embedded, tmp_path / "shuffled.jsonl")
    assert read_jsonl(shuffled) != read_jsonl(embedded)
    a = select(tmp_path, embedded, "--select.strategy", strategy, out="a.jsonl")
    monkeypatch.setattr("training.stages.select.POOLS_PER_BATCH", 3)  # and of the batching
    b = select(tmp_path, shuffled, "--select.strategy", strategy, out="b.jsonl")
    by_id = {g["prompt_id"]: g for g in read_jsonl(b)}
    assert by_id == {g["prompt_id"]: g for g in read_jsonl(a)}
    assert list(by_id) != [g["prompt_id"] for g in read_jsonl(a)]  # written in the new order


def test_near_duplicates_that_leave_fewer_than_k_drop_the_pool(tmp_path):
    """Distinct texts whose vectors coincide: collapsed by the strategy; a pool left with fewer
    than k is dropped and counted, the others selected as usual."""
    pools = [
        PoolRecord(r["prompt_id"], r["prompt"], r["responses"], r["rewards"])
        for r in make_pools()[3:]
    ]
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=(6, 8)).astype(np.float32) for _ in pools]
    vectors[0][1:4] = vectors[0][0]  # p03: four responses in one place -> 3 distinct
    vectors[1][5] = vectors[1][4]  # p04: one near-duplicate -> 5 distinct
    path = tmp_path / "near.jsonl"
    with StageOutput(path, kind="pool", config={}, embeddings="float32") as out:
        out.write(pools, embeddings=vectors)
    out = select(tmp_path, path, "--select.strategy", "ampo_coreset")
    assert [g["prompt_id"] for g in read_jsonl(out)] == [f"p{i:02d}" for i in range(4, 10)]
    counts = read_meta(out)["counts"]
    assert counts["dropped"] == {f"{SHORT} after collapsing near-duplicates": 1}
    assert counts["near_duplicates"] == 1 and counts["exact_duplicates"] == 0


def test_an_interrupted_select_counts_its_drops_once(tmp_path, scored, monkeypatch):
    monkeypatch.setattr("training.stages.select.POOLS_PER_BATCH", 3)
    whole = select(tmp_path, scored, "--select.strategy", "top_k", out="whole.jsonl")
    real = __import__("training.stages.select", fromlist=["_select_rows"])._select_rows
    seen = []

    def crash_on_second_batch(cfg, pools, emb, kept, order):
        if seen:
            raise KeyboardInterrupt
        seen.append([pools[i].prompt_id for i in order])
        return real(cfg, pools, emb, kept, order)

    monkeypatch.setattr("training.stages.select._select_rows", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        select(tmp_path, scored, "--select.strategy", "top_k", out="resumed.jsonl")
    assert seen == [["p00"]]  # the first batch: p00 selected, p01 and p02 dropped
    monkeypatch.setattr("training.stages.select._select_rows", real)
    resumed = select(tmp_path, scored, "--select.strategy", "top_k", out="resumed.jsonl")
    assert resumed.read_bytes() == whole.read_bytes()
    counts = read_meta(resumed)["counts"]
    assert counts == {**read_meta(whole)["counts"], "written": 7, "resumed": 1}
    assert counts["dropped"] == {SHORT: 2} and counts["exact_duplicates"] == 10


BAD_CONFIGS = {
    "unknown strategy": (
        ["--select.strategy", "ampo_coreset_v2"],
        r"select\.strategy: unknown selection strategy 'ampo_coreset_v2'; choose one of: "
        r"ampo_bottomk, ampo_coreset, .*top_k",
    ),
    "unknown option": (
        ["--select.options", "{radius: 2}"],
        r"select\.options\.radius: strategy 'ampo_coreset' has no option 'radius' \(its "
        r"options: init, max_iter, n_init, remove_positive\)",
    ),
    "option of the wrong kind": (
        ["--select.strategy", "dpp", "--select.options", "{temperature: yes}"],
        r"select\.options\.temperature: .*temperature.*real number",
    ),
    "k below 2": (["--select.k", "1"], r"select\.k: k must be >= 2"),
    "k of a fixed-size strategy": (
        ["--select.strategy", "best_worst"],
        r"select\.k: strategy 'best_worst' selects exactly 2 responses, got k=4",
    ),
    "duplicates mode": (
        ["--select.options", "{duplicates: drop}"],
        r"select\.options\.duplicates: duplicates must be one of \('collapse', 'error'\)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_a_bad_strategy_or_option_is_refused_before_any_output(case, tmp_path, embedded):
    overrides, message = BAD_CONFIGS[case]
    out = tmp_path / "sub" / "groups.jsonl"
    with pytest.raises(ValueError, match=message):
        run_stage("select", small_recipe(tmp_path, *overrides), inp=embedded, out=out)
    assert not out.parent.exists()


def test_the_duplicates_option_reaches_the_strategy(tmp_path, embedded):
    out = select(tmp_path, embedded, "--select.options", "{duplicates: error}")
    assert len(read_jsonl(out)) == 8  # the policy's vectors of distinct texts are distinct


def test_a_pool_without_rewards_is_refused_naming_file_line_and_field(tmp_path):
    rows = make_pools()
    del rows[4]["rewards"]
    path = write_jsonl(tmp_path / "pools.jsonl", rows)
    with pytest.raises(RecordError) as err:
        select(tmp_path, path, "--select.strategy", "top_k")
    assert str(err.value) == (
        f"{path}, line 5, prompt_id 'p04', field 'rewards': missing (run the score stage first)"
    )
    assert not (tmp_path / "groups.jsonl").exists()
    assert not any(p.exists() for p in partial_paths(tmp_path / "groups.jsonl"))
