"""Dataset readers on small files in the exact schemas of the released datasets (JSONL, JSON,
Parquet), and through `datasets.load_dataset` for names that are not local files."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from training.datasets import (
    READERS,
    iter_rows,
    read_ampo_groups,
    read_ampo_pools,
    read_prompts,
    read_ultrafeedback,
)
from training.records import GroupRecord, PoolRecord, PromptRecord, RecordError, prompt_id_for

FORMATS = ["jsonl", "json", "json-data", "parquet"]


def write_table(tmp_path, rows, fmt, stem="data"):
    """The rows as `<stem>.jsonl`, `.json` (a list, or {"data": [...]}) or `.parquet`."""
    if fmt == "jsonl":
        path = tmp_path / f"{stem}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt.startswith("json"):
        path = tmp_path / f"{stem}.json"
        path.write_text(json.dumps({"data": rows} if fmt == "json-data" else rows, indent=1))
    else:
        path = tmp_path / f"{stem}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def turn(role, content):
    return {"content": content, "role": role}  # the released files' key order


def ampo_row(i: int, n: int = 10, k: int = 8) -> dict:
    """A row of AMPO-Coreset-selection: a pool of n, and k of them as A0..A{k-1}, out of order."""
    prompt = f"Question {i}?"
    pool = [f"answer {i}.{j}" for j in range(n)]
    scores = [float((7 * j + i) % n) / 2 for j in range(n)]
    picked = [(3 * j + 1) % n for j in range(k)]  # distinct positions, not in pool order
    row = {
        "prompt_id": f"id{i}",
        "prompt": prompt,
        "all_generated_responses": pool,
        "all_reward_scores": scores,
    }
    for a, j in enumerate(picked):
        row[f"A{a}"] = [turn("user", prompt), turn("assistant", pool[j])]
    for a, j in enumerate(picked):
        row[f"score_A{a}"] = scores[j]
    return row


def uf_row(i: int) -> dict:
    """A row of UltraFeedback-binarized."""
    prompt = f"Tell me about {i}."
    return {
        "prompt": prompt,
        "prompt_id": prompt_id_for(prompt),
        "chosen": [turn("user", prompt), turn("assistant", f"good {i}")],
        "rejected": [turn("user", prompt), turn("assistant", f"bad {i}")],
        "messages": [turn("user", prompt), turn("assistant", f"good {i}")],
        "score_chosen": 8.5,
        "score_rejected": 3.0 + i,
    }


def located(path, unit, n, field):
    return rf"^{re.escape(str(path))}, {unit} {n}, (prompt_id '\w+', )?field '{field}': "


# --- AMPO ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_ampo_rows_read_as_pools(fmt, tmp_path):
    rows = [ampo_row(i) for i in range(3)]
    pools = list(read_ampo_pools(write_table(tmp_path, rows, fmt)))
    assert pools == [
        PoolRecord(
            r["prompt_id"], r["prompt"], r["all_generated_responses"], r["all_reward_scores"]
        )
        for r in rows
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ampo_selections_read_as_groups_of_8(fmt, tmp_path):
    rows = [ampo_row(i) for i in range(3)]
    groups = list(read_ampo_groups(write_table(tmp_path, rows, fmt, stem="AMPO-Coreset")))
    for g, row in zip(groups, rows, strict=True):
        picked = [(3 * j + 1) % 10 for j in range(8)]
        assert g.responses == tuple(row["all_generated_responses"][j] for j in picked)
        assert g.rewards == tuple(row["all_reward_scores"][j] for j in picked)
        assert g.extra["pool_index"] == picked  # A_i are pool entries, not in pool order
        assert g.rewards[g.positive] == max(g.rewards)
        assert g.positive == g.rewards.index(max(g.rewards))  # first of ties
        assert g.strategy == "AMPO-Coreset" and g.prompt == row["prompt"]


def test_a_selection_given_as_a_bare_string_and_a_repeated_response(tmp_path):
    row = ampo_row(0, n=4, k=3)
    row["all_generated_responses"][2] = row["all_generated_responses"][1]  # the same text twice
    row["A0"] = row["all_generated_responses"][1]
    row["A1"] = [turn("user", row["prompt"]), turn("assistant", row["all_generated_responses"][2])]
    (g,) = read_ampo_groups(write_table(tmp_path, [row], "jsonl"), strategy="opt")
    assert g.extra["pool_index"][:2] == [1, 2] and g.strategy == "opt" and len(g.responses) == 3


AMPO_BAD = {
    "selection not in the pool": (
        "A3",
        lambda r: r.update(A3=[turn("user", r["prompt"]), turn("assistant", "new")]),
        "not one of all_generated_responses",
    ),
    "user turn differs": (
        "A1",
        lambda r: r["A1"].__setitem__(0, turn("user", "other")),
        "does not match the prompt",
    ),
    "ends with the user": ("A2", lambda r: r["A2"].reverse(), "not the assistant's"),
    "NaN score": ("score_A2", lambda r: r.update(score_A2=float("nan")), "not finite"),
    "missing score": ("score_A5", lambda r: r.pop("score_A5"), "missing"),
    "empty pool": (
        "all_generated_responses",
        lambda r: r.update(all_generated_responses=[], all_reward_scores=[]),
        "is empty",
    ),
}


@pytest.mark.parametrize("case", AMPO_BAD)
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_ampo_errors_name_file_row_and_column(case, fmt, tmp_path):
    field, spoil, problem = AMPO_BAD[case]
    rows = [ampo_row(i) for i in range(3)]
    spoil(rows[1])
    path = write_table(tmp_path, rows, fmt)
    reader = read_ampo_pools if field == "all_generated_responses" else read_ampo_groups
    unit = "line" if fmt == "jsonl" else "row"
    with pytest.raises(RecordError, match=located(path, unit, 2, field)) as caught:
        list(reader(path))
    assert problem in str(caught.value) and "prompt_id 'id1'" in str(caught.value)


def test_ampo_pool_errors_use_the_dataset_column_names(tmp_path):
    row = ampo_row(0)
    row["all_reward_scores"] = row["all_reward_scores"][:-1]
    with pytest.raises(RecordError, match="field 'all_reward_scores': has 9 entries"):
        list(read_ampo_pools(write_table(tmp_path, [row], "json")))


def test_a_duplicated_prompt_id_is_refused(tmp_path):
    rows = [ampo_row(0), ampo_row(1), ampo_row(0)]
    path = write_table(tmp_path, rows, "parquet")
    with pytest.raises(
        RecordError, match=r"row 3, prompt_id 'id0', field 'prompt_id': duplicate.*row 1"
    ):
        list(read_ampo_pools(path))


# --- UltraFeedback-binarized --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_ultrafeedback_pairs_read_as_groups_of_2(fmt, tmp_path):
    rows = [uf_row(i) for i in range(3)]
    groups = list(read_ultrafeedback(write_table(tmp_path, rows, fmt, stem="ultrafeedback")))
    assert groups[2] == GroupRecord(
        rows[2]["prompt_id"],
        "Tell me about 2.",
        ["good 2", "bad 2"],
        [8.5, 5.0],
        0,
        "ultrafeedback",
    )


def test_ultrafeedback_with_a_system_turn_keeps_the_conversation_as_prompt(tmp_path):
    row = uf_row(0)
    for key in ("chosen", "rejected"):
        row[key].insert(0, turn("system", "Be kind."))
    (g,) = read_ultrafeedback(write_table(tmp_path, [row], "jsonl"))
    assert g.prompt == (
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": row["prompt"]},
    )


UF_BAD = {
    "chosen user turn": (
        "chosen",
        lambda r: r["chosen"].__setitem__(0, turn("user", "x")),
        "does not match the prompt",
    ),
    "rejected user turn": (
        "rejected",
        lambda r: r["rejected"].__setitem__(0, turn("user", "x")),
        "does not match the prompt",
    ),
    "rejected context": (
        "rejected",
        lambda r: r["rejected"].insert(0, turn("system", "s")),
        "differs from chosen",
    ),
    "no assistant": (
        "chosen",
        lambda r: r.update(chosen=[turn("user", r["prompt"])]),
        "not the assistant's",
    ),
    "score missing": ("score_rejected", lambda r: r.update(score_rejected=None), "missing"),
    "score a string": ("score_chosen", lambda r: r.update(score_chosen="high"), "not a number"),
    "messages malformed": (
        "chosen",
        lambda r: r.update(chosen=[{"role": "user"}]),
        "role, content",
    ),
}


@pytest.mark.parametrize("case", UF_BAD)
def test_ultrafeedback_errors_name_file_row_and_column(case, tmp_path):
    field, spoil, problem = UF_BAD[case]
    rows = [uf_row(i) for i in range(3)]
    spoil(rows[2])
    path = write_table(tmp_path, rows, "json")
    with pytest.raises(RecordError, match=located(path, "row", 3, field)) as caught:
        list(read_ultrafeedback(path))
    assert problem in str(caught.value)


# --- prompts and sources ------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_prompts_take_or_derive_their_id(fmt, tmp_path):
    rows = [
        {"prompt": "Hello", "prompt_id": "given"},
        {"prompt": "How are you?", "prompt_id": None},
        {"prompt": "Numbered", "prompt_id": 12},
    ]
    if fmt == "parquet":  # one type a column
        rows[2]["prompt_id"] = "12"
    assert list(read_prompts(write_table(tmp_path, rows, fmt))) == [
        PromptRecord("given", "Hello"),
        PromptRecord(prompt_id_for("How are you?"), "How are you?"),
        PromptRecord("12", "Numbered"),
    ]


def test_message_prompts_and_a_missing_prompt(tmp_path):
    msgs = [turn("user", "Hi")]
    path = write_table(tmp_path, [{"prompt": msgs}, {"text": "no prompt"}], "jsonl")
    rows = read_prompts(path)
    assert next(rows) == PromptRecord(prompt_id_for(msgs), msgs)
    with pytest.raises(RecordError, match=located(path, "line", 2, "prompt") + "missing"):
        next(rows)


def test_malformed_json_is_located(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"\n')
    with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}, line 2: malformed JSON"):
        list(read_prompts(path))
    path = tmp_path / "p.json"
    path.write_text('[\n {"prompt": "a"},\n {"prompt" "b"}\n]')
    with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}, line 3: malformed JSON"):
        list(read_prompts(path))
    path.write_text('{"rows": []}')
    with pytest.raises(RecordError, match="a list of objects"):
        list(read_prompts(path))
    path.write_text('[{"prompt": "a"}, 5]')
    with pytest.raises(RecordError, match=rf"^{re.escape(str(path))}, row 2: expected an object"):
        list(read_prompts(path))


def test_a_missing_local_file_is_not_sent_to_the_hub(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("hub called"))
    with pytest.raises(FileNotFoundError, match=r"nope\.parquet"):
        list(read_prompts(tmp_path / "nope.parquet"))
    (tmp_path / "x.csv").write_text("prompt\nhi\n")
    with pytest.raises(ValueError, match="unsupported file type"):
        list(iter_rows(tmp_path / "x.csv"))


def test_a_hub_name_goes_through_load_dataset_with_its_split(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split):
        calls.append((name, split))
        return datasets.Dataset.from_list([ampo_row(0), ampo_row(1)])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    name = "Multi-preference-Optimization/AMPO-Coreset-selection"
    groups = list(read_ampo_groups(name))
    assert calls == [(name, "train_prefs")]
    assert [g.strategy for g in groups] == [name, name]
    with pytest.raises(RecordError, match=rf"^{name} \[test_prefs\], row 2, prompt_id 'id1'"):
        monkeypatch.setattr(
            datasets,
            "load_dataset",
            lambda n, split: datasets.Dataset.from_list(
                [ampo_row(0), {**ampo_row(1), "score_A0": None}]
            ),
        )
        list(read_ampo_groups(name, split="test_prefs"))


def test_readers_are_registered_by_name():
    assert set(READERS) == {"prompts", "ampo-pools", "ampo-groups", "ultrafeedback"}
