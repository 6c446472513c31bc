"""The tiny recipe end to end through the CLI: generate -> score -> embed -> select -> ref-logps
-> train, every file and its meta checked, the reference log-probs recomputed independently, the
checkpoint loaded by plain transformers; and the same run in a child process, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from pipeline_helpers import FILES, N_PROMPTS, N_SAMPLES, SMALL, K, read_jsonl, read_meta

from training.chat import encode_pair
from training.models import resolve_path
from training.rewards import make_scorer


def test_every_stage_file_and_meta_is_written(tiny_run):
    for stem in FILES:
        assert (tiny_run / f"{stem}.jsonl").is_file() and (tiny_run / f"{stem}.meta.json").is_file()
        assert not list(tiny_run.glob(f"{stem}.jsonl.partial*"))  # no leftovers
    assert (tiny_run / "embedded.emb.npy").is_file()
    for stem in FILES:
        meta = read_meta(tiny_run / f"{stem}.jsonl")
        lines = len(read_jsonl(tiny_run / f"{stem}.jsonl"))
        assert meta["counts"]["records"] == meta["counts"]["written"] == lines
        assert meta["counts"]["resumed"] == 0
        assert meta["output"]["path"] == f"{stem}.jsonl"


def test_generate_writes_n_samples_per_prompt(tiny_run):
    pools = read_jsonl(tiny_run / "pools.jsonl")
    assert [p["prompt_id"] for p in pools] == [f"tiny-{i:03d}" for i in range(N_PROMPTS)]
    assert all(len(p["responses"]) == N_SAMPLES and "rewards" not in p for p in pools)
    meta = read_meta(tiny_run / "pools.jsonl")
    assert meta["counts"]["samples"] == N_PROMPTS * N_SAMPLES
    assert meta["counts"]["dropped"] == {}
    assert meta["config"]["sampling"]["n"] == N_SAMPLES and meta["seed"] == 0


def test_score_and_embed_keep_the_pools_and_add_rewards_and_vectors(tiny_run):
    pools, scored = read_jsonl(tiny_run / "pools.jsonl"), read_jsonl(tiny_run / "scored.jsonl")
    assert [(p["prompt_id"], p["responses"]) for p in pools] == [
        (s["prompt_id"], s["responses"]) for s in scored
    ]
    scorer = make_scorer("function", name="word_count", target=8)
    for s in scored:
        np.testing.assert_array_equal(
            s["rewards"], scorer.score([s["prompt"]] * N_SAMPLES, s["responses"])
        )
    assert (tiny_run / "embedded.jsonl").read_bytes() == (tiny_run / "scored.jsonl").read_bytes()
    emb = np.load(tiny_run / "embedded.emb.npy")
    meta = read_meta(tiny_run / "embedded.jsonl")
    assert emb.shape == (N_PROMPTS, N_SAMPLES, emb.shape[2]) and emb.shape[2] > 1
    assert meta["embeddings"]["shape"] == list(emb.shape)
    assert np.isfinite(emb).all() and (np.linalg.norm(emb, axis=-1) > 0).all()


def test_select_makes_groups_of_k_with_the_best_response_as_positive(tiny_run):
    pools = {p["prompt_id"]: p for p in read_jsonl(tiny_run / "embedded.jsonl")}
    groups = read_jsonl(tiny_run / "groups.jsonl")
    meta = read_meta(tiny_run / "groups.jsonl")
    counts = meta["counts"]
    assert counts["records"] + sum(counts["dropped"].values()) == N_PROMPTS
    assert len(groups) == counts["records"] >= N_PROMPTS - 2
    assert {"exact_duplicates", "near_duplicates"} <= set(counts)
    for g in groups:
        pool = pools[g["prompt_id"]]
        picks = g["extra"]["pool_indices"]
        assert len(g["responses"]) == len(set(g["responses"])) == K == len(set(picks))
        assert g["responses"] == [pool["responses"][j] for j in picks]
        assert g["rewards"] == [pool["rewards"][j] for j in picks]
        assert g["rewards"][g["positive"]] == max(g["rewards"]) == max(pool["rewards"])
        assert g["strategy"] == "ampo_coreset" and g["extra"]["pool_size"] == N_SAMPLES


def test_ref_logps_equal_an_independent_forward_pass(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    groups = read_jsonl(tiny_run / "groups.jsonl")
    ref = read_jsonl(tiny_run / "groups.ref.jsonl")
    assert [
        {k: v for k, v in r.items() if k not in ("ref_logps", "lengths")} for r in ref
    ] == groups
    meta = read_meta(tiny_run / "groups.ref.jsonl")
    assert meta["counts"]["truncated_responses"] == meta["counts"]["truncated_tokens"] == 0
    assert meta["config"]["max_length"] == 256

    path = resolve_path("builtin:tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    group = ref[len(ref) // 2]
    logps, lengths = [], []
    for response in group["responses"]:
        prompt_ids, response_ids = encode_pair(tokenizer, group["prompt"], response)
        ids = torch.tensor([prompt_ids + response_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].double()  # (T - 1, V)
        token_logps = logits.log_softmax(-1).gather(1, ids[0, 1:, None])[:, 0]
        logps.append(float(token_logps[-len(response_ids) :].sum()))
        lengths.append(len(response_ids))
    assert group["lengths"] == lengths
    np.testing.assert_allclose(group["ref_logps"], logps, rtol=1e-5, atol=1e-4)


def test_the_final_checkpoint_loads_with_transformers_and_generates(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    n_groups = len(read_jsonl(tiny_run / "groups.ref.jsonl"))
    steps = n_groups // 4  # train.batch_size 2 x grad_accum 2
    train = tiny_run / "train"
    final = train / "checkpoints" / f"step-{steps:06d}"
    assert final.is_dir()
    rows = read_jsonl(train / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    assert all(np.isfinite(r["loss"]) and r["truncated_responses"] == 0 for r in rows)

    model = AutoModelForCausalLM.from_pretrained(final).eval()
    tokenizer = AutoTokenizer.from_pretrained(final)
    start = AutoModelForCausalLM.from_pretrained(resolve_path("builtin:tiny-llama"))
    moved = [
        not torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), start.state_dict().values(), strict=True)
    ]
    assert any(moved)  # training changed the weights
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Say hello."}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if not torch.is_tensor(ids) else ids
    out = model.generate(
        ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert out.shape[1] > ids.shape[1]


def test_the_cli_in_a_child_process_writes_the_same_records(tiny_run, tmp_path, subprocess_env):
    """4 of the 12 prompts in another process: every file holds exactly the lines the in-process
    run wrote for them (generation and selection depend on the prompt, not on its neighbours)."""
    run_dir = tmp_path / "child"
    argv = ["pipeline", "--config", "tiny", "--run_dir", str(run_dir), *SMALL, "--data.limit", "4"]
    done = subprocess.run(
        [sys.executable, "-m", "training", *argv],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line.split(": ")[0] for line in done.stdout.splitlines()]
    assert printed == ["generate", "score", "embed", "select", "ref-logps", "train"]
    for stem in FILES:
        child = (run_dir / f"{stem}.jsonl").read_text().splitlines()
        ids = {json.loads(line)["prompt_id"] for line in child}
        assert ids <= {f"tiny-{i:03d}" for i in range(4)} and len(ids) >= 3, stem
        parent = (tiny_run / f"{stem}.jsonl").read_text().splitlines()
        assert child == [line for line in parent if json.loads(line)["prompt_id"] in ids], stem
    assert (run_dir / "train" / "checkpoints" / "step-000001").is_dir()


@pytest.mark.slow
def test_the_shipped_tiny_recipe_unchanged_in_a_child_process(tmp_path, subprocess_env):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "training",
            "pipeline",
            "--config",
            "tiny",
            "--run_dir",
            str(tmp_path),
        ],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(read_jsonl(tmp_path / "pools.jsonl")) == 48
    groups = read_jsonl(tmp_path / "groups.ref.jsonl")
    assert groups and all(len(g["responses"]) == 4 and len(g["ref_logps"]) == 4 for g in groups)
    assert (tmp_path / "train" / "checkpoints" / "latest").exists()
