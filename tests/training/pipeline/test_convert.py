"""Starting the pipeline from released data: `convert --from ampo-pools|ampo-groups|ultrafeedback`
writes a pool or group file the next stages read by default (scored.jsonl, groups.jsonl), so a
user goes on with `embed`/`select` or `ref-logps`/`train` (MMPO reads the UltraFeedback scores)."""

from __future__ import annotations

import pytest
import torch
from pipeline_helpers import read_jsonl, read_meta, write_jsonl

from training.__main__ import main
from training.records import RecordError, prompt_id_for
from training.stagefile import partial_paths


def turn(role, content):
    return {"content": content, "role": role}  # the released files' key order


def ampo_row(i: int, n: int = 10, k: int = 8) -> dict:
    """A row of AMPO-Coreset-selection: a pool of n and k of them as A0..A{k-1} (conversations,
    not in pool order), with score_A0..score_A{k-1}."""
    prompt = f"Question {i}: which river runs through the city?"
    pool = [f"The river {j} runs through city {i}." for j in range(n)]
    scores = [float((7 * j + i) % n) / 2 for j in range(n)]
    row = {
        "prompt_id": f"id{i}",
        "prompt": prompt,
        "all_generated_responses": pool,
        "all_reward_scores": scores,
    }
    picked = [(3 * a + 1) % n for a in range(k)]
    for a, j in enumerate(picked):
        row[f"A{a}"] = [turn("user", prompt), turn("assistant", pool[j])]
    for a, j in enumerate(picked):
        row[f"score_A{a}"] = scores[j]
    return row


def uf_row(i: int, score_rejected: float | None = None) -> dict:
    """A row of UltraFeedback-binarized."""
    prompt = f"Tell me about river {i}."
    return {
        "prompt": prompt,
        "prompt_id": prompt_id_for(prompt),
        "chosen": [turn("user", prompt), turn("assistant", f"River {i} is long and blue.")],
        "rejected": [turn("user", prompt), turn("assistant", f"no {i}")],
        "messages": [turn("user", prompt), turn("assistant", f"River {i} is long and blue.")],
        "score_chosen": 8.5,
        "score_rejected": 3.0 + i / 4 if score_rejected is None else score_rejected,
    }


def cli(*argv) -> None:
    assert main(list(argv)) == 0


def run_args(run_dir, *more):
    return ["--config", "tiny", "--run_dir", str(run_dir), *more]


TRAIN = ["--train.batch_size", "2", "--train.grad_accum", "1", "--train.epochs", "1"]


def test_ampo_pools_feed_select_directly_and_through_embed(tmp_path, one_thread):
    src = write_jsonl(tmp_path / "ampo.jsonl", [ampo_row(i) for i in range(5)])
    run = tmp_path / "run"
    cli("convert", "--from", "ampo-pools", "--in", src, *run_args(run))
    pools = read_jsonl(run / "scored.jsonl")
    assert [p["prompt_id"] for p in pools] == [f"id{i}" for i in range(5)]
    assert pools[3]["responses"] == ampo_row(3)["all_generated_responses"]
    assert pools[3]["rewards"] == ampo_row(3)["all_reward_scores"]
    meta = read_meta(run / "scored.jsonl")
    assert meta["kind"] == "pool" and meta["config"]["convert"]["format"] == "ampo-pools"
    assert meta["inputs"][0]["path"] == src and meta["counts"]["records"] == 5

    # a reward-only strategy on the converted pools, no embeddings needed
    cli("select", *run_args(run, "--in", str(run / "scored.jsonl"), "--out", str(run / "bk.jsonl")),
        "--select.strategy", "bottom_k", "--select.k", "8")  # fmt: skip
    assert all(len(g["responses"]) == 8 for g in read_jsonl(run / "bk.jsonl"))
    # the default chain: embed (reads scored.jsonl) -> select (AMPO-Coreset, k = 8)
    cli("embed", *run_args(run))
    cli("select", *run_args(run), "--select.k", "8")
    groups = read_jsonl(run / "groups.jsonl")
    assert len(groups) == 5
    for g, row in zip(groups, (ampo_row(i) for i in range(5)), strict=True):
        assert g["rewards"][g["positive"]] == max(row["all_reward_scores"])


def test_ampo_selections_train_as_groups_of_8(tmp_path, one_thread):
    rows = [ampo_row(i) for i in range(4)]
    src = write_jsonl(tmp_path / "AMPO-Coreset-selection.jsonl", rows)
    run = tmp_path / "run"
    cli("convert", "--from", "ampo-groups", "--in", src, *run_args(run))
    groups = read_jsonl(run / "groups.jsonl")
    g = groups[1]
    assert g["responses"] == [rows[1][f"A{a}"][1]["content"] for a in range(8)]
    assert g["rewards"] == [rows[1][f"score_A{a}"] for a in range(8)]
    assert g["rewards"][g["positive"]] == max(g["rewards"])
    assert g["strategy"] == "AMPO-Coreset-selection"
    assert [rows[1]["all_generated_responses"][j] for j in g["extra"]["pool_index"]] == g[
        "responses"
    ]
    cli("ref-logps", *run_args(run))
    assert all(len(r["ref_logps"]) == 8 for r in read_jsonl(run / "groups.ref.jsonl"))
    cli("train", *run_args(run), *TRAIN)
    assert (run / "train" / "checkpoints" / "step-000002").is_dir()


def _mmpo_weights(tmp_path, name, rows, *loss):
    src = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    run = tmp_path / name
    cli("convert", "--from", "ultrafeedback", "--in", src, *run_args(run))
    cli("ref-logps", *run_args(run))
    cli("train", *run_args(run), *TRAIN, "--train.loss", "mmpo", "--train.lr", "0.01", *loss)
    from transformers import AutoModelForCausalLM

    from training.checkpoint import latest

    model = AutoModelForCausalLM.from_pretrained(latest(run / "train"))
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_ultrafeedback_pairs_train_with_mmpo_whose_target_reads_the_scores(tmp_path, one_thread):
    rows = [uf_row(i) for i in range(4)]
    src = write_jsonl(tmp_path / "uf.jsonl", rows)
    run = tmp_path / "run"
    cli("convert", "--from", "ultrafeedback", "--in", src, *run_args(run))
    groups = read_jsonl(run / "groups.jsonl")
    assert [g["prompt_id"] for g in groups] == [r["prompt_id"] for r in rows]
    assert groups[2]["responses"] == ["River 2 is long and blue.", "no 2"]
    assert groups[2]["rewards"] == [8.5, 3.5] and groups[2]["positive"] == 0
    assert groups[2]["prompt"] == rows[2]["prompt"] and groups[2]["strategy"] == "uf"

    # the soft target sigma(gamma_bt (r_w - r_l)) reads the scores: other scores, other weights;
    # with gamma_bt null (the hard target of DPO) the scores are not read
    tied = [uf_row(i, score_rejected=8.5) for i in range(4)]
    soft = _mmpo_weights(tmp_path, "soft", rows), _mmpo_weights(tmp_path, "soft_tied", tied)
    assert not torch.equal(*soft)
    hard = (
        _mmpo_weights(tmp_path, "hard", rows, "--train.loss_options", "{gamma_bt: null}"),
        _mmpo_weights(tmp_path, "hard_tied", tied, "--train.loss_options", "{gamma_bt: null}"),
    )
    assert torch.equal(*hard)


def test_a_bad_row_is_located_and_nothing_is_written(tmp_path):
    rows = [uf_row(i) for i in range(4)]
    rows[2]["score_rejected"] = float("nan")
    src = write_jsonl(tmp_path / "uf.jsonl", rows)
    run = tmp_path / "run"
    with pytest.raises(RecordError) as err:
        main(["convert", "--from", "ultrafeedback", "--in", src, *run_args(run)])
    assert str(err.value) == (
        f"{src}, line 3, prompt_id '{rows[2]['prompt_id']}', field 'score_rejected': "
        "entry 0 is nan, not finite"
    )
    assert not run.exists()


def test_convert_names_its_formats_and_resumes_like_any_stage(tmp_path):
    src = write_jsonl(tmp_path / "uf.jsonl", [uf_row(i) for i in range(3)])
    run = tmp_path / "run"
    with pytest.raises(ValueError, match=r"convert\.format is not set .*ampo-pools, ampo-groups"):
        main(["convert", "--in", src, *run_args(run)])
    with pytest.raises(SystemExit):
        main(["convert", "--from", "alpaca", "--in", src, *run_args(run)])
    with pytest.raises(SystemExit):
        main(["select", "--from", "ultrafeedback", *run_args(run)])
    cli("convert", "--from", "ultrafeedback", "--in", src, *run_args(run))
    out = run / "groups.jsonl"
    stamp = out.stat().st_mtime_ns
    cli("convert", "--from", "ultrafeedback", "--in", src, *run_args(run))  # done: nothing
    assert out.stat().st_mtime_ns == stamp and not partial_paths(out)[0].exists()
    with pytest.raises(ValueError, match="written by a different run"):
        main(
            [
                "convert",
                "--from",
                "ultrafeedback",
                "--in",
                src,
                *run_args(run),
                "--convert.limit",
                "2",
            ]
        )
