"""Bad input to the pipeline: each case one error naming the file, line and field (or the
prompt_id), and nothing at the output path: no final file, no partial, no meta."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from pipeline_helpers import read_jsonl, read_meta, small_recipe, write_jsonl

from training.__main__ import main
from training.records import RecordError
from training.rewards import REWARD_FUNCTIONS, reward_function
from training.stagefile import partial_paths
from training.stages import STAGES, run_stage

RUN_FILES = {  # stage -> (its input in the run, or None for the recipe's prompts; its output)
    "generate": (None, "pools.jsonl"),
    "score": ("pools.jsonl", "scored.jsonl"),
    "embed": ("scored.jsonl", "embedded.jsonl"),
    "select": ("embedded.jsonl", "groups.jsonl"),
    "ref-logps": ("groups.jsonl", "groups.ref.jsonl"),
    "train": ("groups.ref.jsonl", "train"),
}


def nothing_at(out) -> bool:
    """No final file, meta, embeddings or partial at the output path."""
    paths = [out, out.with_suffix(".meta.json"), out.with_suffix(".emb.npy"), *partial_paths(out)]
    return not any(p.exists() for p in paths)


def _input(stage, run, tmp_path):
    name = RUN_FILES[stage][0]
    if name is None:  # the prompts: a copy of the recipe's, first 12 lines
        prompts = small_recipe(run).data.prompts
        lines = open(prompts, encoding="utf-8").read().splitlines()[:12]
        path = tmp_path / "prompts.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        return path
    return run / name


def _rewrite_line(path, number, text):
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.mark.parametrize("stage", list(RUN_FILES))
def test_a_malformed_line_names_file_and_line_and_writes_nothing(stage, run_copy, tmp_path):
    inp = _input(stage, run_copy, tmp_path)
    line = inp.read_text().splitlines()[2]
    _rewrite_line(inp, 3, line[: len(line) // 2])  # a line cut in the middle
    out = tmp_path / "out" / RUN_FILES[stage][1]
    with pytest.raises(RecordError, match=rf"^{re.escape(str(inp))}, line 3: malformed JSON \("):
        run_stage(stage, small_recipe(run_copy), inp=inp, out=out)
    assert nothing_at(out) and not out.exists()


@pytest.mark.parametrize("stage", ["ref-logps", "train"])
def test_a_group_of_one_response_is_refused(stage, run_copy, tmp_path):
    inp = run_copy / RUN_FILES[stage][0]
    group = read_jsonl(inp)[4]
    for key in ("responses", "rewards", "ref_logps", "lengths"):
        if key in group:
            group[key] = group[key][:1]
    _rewrite_line(inp, 5, json.dumps(group))
    out = tmp_path / "out" / RUN_FILES[stage][1]
    with pytest.raises(RecordError) as err:
        run_stage(stage, small_recipe(run_copy), inp=inp, out=out)
    assert str(err.value) == (
        f"{inp}, line 5, prompt_id {group['prompt_id']!r}, field 'responses': "
        "has 1 entry; a group needs k >= 2"
    )
    assert nothing_at(out)


@pytest.mark.parametrize("stage", ["score", "select"])
def test_a_nan_reward_in_a_file_is_refused(stage, run_copy, tmp_path):
    inp = run_copy / ("scored.jsonl" if stage == "score" else "embedded.jsonl")
    pool = read_jsonl(inp)[6]
    pool["rewards"][2] = float("nan")
    _rewrite_line(inp, 7, json.dumps(pool))  # json writes NaN
    out = tmp_path / "out.jsonl"
    with pytest.raises(RecordError) as err:
        run_stage(stage, small_recipe(run_copy), inp=inp, out=out)
    assert str(err.value) == (
        f"{inp}, line 7, prompt_id {pool['prompt_id']!r}, field 'rewards': entry 2 is nan, "
        "not finite"
    )
    assert nothing_at(out)


@pytest.fixture
def nan_reward():
    @reward_function("test_nan_once")
    def fn(prompt: str, response: str) -> float:
        """NaN for one response, 1 for the others."""
        return float("nan") if response == fn.bad else 1.0

    yield fn
    del REWARD_FUNCTIONS["test_nan_once"]


def test_a_nan_from_the_reward_function_names_the_prompt_and_the_response(
    run_copy, tmp_path, nan_reward, monkeypatch
):
    pools = read_jsonl(run_copy / "pools.jsonl")
    target = pools[6]
    nan_reward.bad = target["responses"][3]
    assert sum(r == nan_reward.bad for p in pools for r in p["responses"]) == 1
    score_module = importlib.import_module("training.stages.score")  # `score` is also a function
    monkeypatch.setattr(score_module, "POOLS_PER_WRITE", 4)
    recipe = small_recipe(run_copy, "--score.model", "test_nan_once", "--score.options", "{}")
    out = tmp_path / "scored.jsonl"
    with pytest.raises(RecordError) as err:
        run_stage("score", recipe, inp=run_copy / "pools.jsonl", out=out)
    assert str(err.value) == (
        f"{run_copy / 'pools.jsonl'}, prompt_id {target['prompt_id']!r}, field 'rewards': "
        "response 3: reward function 'test_nan_once' returned nan"
    )
    assert not out.exists() and not out.with_suffix(".meta.json").exists()
    # the pools scored before its chunk are kept for a resume, and only those
    partial = partial_paths(out)[0]
    done = [json.loads(line)["prompt_id"] for line in partial.read_text().splitlines()]
    assert done == [p["prompt_id"] for p in pools[:4]]


def test_a_response_longer_than_max_length_is_cut_and_counted(run_copy, tmp_path):
    from training.chat import encode_prompt
    from training.models import load_tokenizer

    groups = read_jsonl(run_copy / "groups.jsonl")
    groups[2]["responses"][1] = " ".join(["the long river"] * 60)  # ~180 tokens
    src = write_jsonl(tmp_path / "groups.jsonl", groups)
    recipe = small_recipe(run_copy, "--train.max_length", "64", "--train.epochs", "2")
    ref = run_stage("ref-logps", recipe, inp=src, out=tmp_path / "groups.ref.jsonl")
    counts = read_meta(ref)["counts"]
    assert counts["truncated_responses"] == 1 and counts["truncated_tokens"] > 100
    rows = read_jsonl(ref)
    prompt = len(encode_prompt(load_tokenizer(recipe.model), groups[2]["prompt"]))
    assert rows[2]["lengths"][1] == 64 - prompt  # cut to fit, the prompt whole
    untouched = read_jsonl(run_copy / "groups.ref.jsonl")  # max_length 256: nothing cut
    assert [r["lengths"] for r in rows[:2] + rows[3:]] == [
        r["lengths"] for r in untouched[:2] + untouched[3:]
    ]
    run_stage("train", recipe, inp=ref, out=tmp_path / "train")
    metrics = read_jsonl(tmp_path / "train" / "metrics.jsonl")
    assert sum(m["truncated_responses"] for m in metrics) == 2  # once an epoch


@pytest.mark.parametrize("stage", ["ref-logps", "train"])
def test_a_prompt_longer_than_max_length_names_its_prompt_id(stage, run_copy, tmp_path):
    groups = read_jsonl(run_copy / "groups.ref.jsonl")
    groups[3]["prompt"] = " ".join(["a very long question about the river"] * 20)
    src = write_jsonl(tmp_path / "groups.jsonl", groups)
    out = tmp_path / "out" / RUN_FILES[stage][1]
    with pytest.raises(RecordError) as err:
        run_stage(stage, small_recipe(run_copy, "--train.max_length", "64"), inp=src, out=out)
    assert re.fullmatch(
        rf"{re.escape(src)}, line 4, prompt_id {groups[3]['prompt_id']!r}, field 'prompt': the "
        r"prompt has \d+ tokens; train.max_length=64 leaves no room for a response token "
        r"\(responses are truncated to fit, prompts never are\)",
        str(err.value),
    )
    assert nothing_at(out) and not out.parent.exists()


def test_a_reference_loss_without_ref_logps_says_which_stage_to_run(run_copy, tmp_path):
    out = tmp_path / "train"
    inp = run_copy / "groups.jsonl"  # before the ref-logps stage
    with pytest.raises(ValueError) as err:
        run_stage("train", small_recipe(run_copy, "--train.loss", "dpo"), inp=inp, out=out)
    first = read_jsonl(inp)[0]["prompt_id"]
    assert str(err.value) == (
        f"{inp}: loss dpo needs ref_logps, missing for prompt_id {first!r} "
        f"({len(read_jsonl(inp))} groups); run the ref-logps stage first"
    )
    assert not out.exists()
    # the recipe's AMPO scores are length-normalised, reference-free: it trains on them
    assert run_stage("train", small_recipe(run_copy), inp=inp, out=out).is_dir()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--train.loss", "dpoo"], r"recipe train\.loss: unknown loss 'dpoo'; valid names: ampo, "),
        (
            ["--train.loss", "dpo", "--train.loss_options", "{gamma: 1}"],
            r"recipe train\.loss: dpo: unknown hyperparameter\(s\) gamma; valid: beta",
        ),
        (
            ["--select.strategy", "coreset"],
            r"recipe select\.strategy: unknown selection strategy 'coreset'; choose one of: ",
        ),
        (["--generate.backend", "tgi"], r"recipe generate\.backend: .*unknown backend 'tgi'"),
        (["--score.model", "wordcount"], r"recipe score: reward function 'wordcount' unknown"),
    ],
)
def test_the_pipeline_checks_every_name_before_the_first_stage(overrides, message, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        main(["pipeline", "--config", "tiny", "--run_dir", str(run), *overrides])
    assert not run.exists()  # not even the prompts were read


def test_every_stage_of_the_registry_is_covered():
    assert set(RUN_FILES) | {"convert"} == set(STAGES)
