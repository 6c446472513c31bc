"""Record schemas: round trips, aliases, and one located error (file, line, prompt_id, field) for
every way a record can be wrong."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from training.records import (
    GroupRecord,
    PoolRecord,
    PromptRecord,
    RecordError,
    parse_line,
    prompt_id_for,
    to_json_line,
)
from training.stagefile import read_records

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]


def group(**change) -> dict:
    row = {
        "prompt_id": "p1",
        "prompt": "What is 2+2?",
        "responses": ["4", "5", "four"],
        "rewards": [1.0, -1.0, 0.5],
        "positive": 0,
        "strategy": "ampo-coreset",
        "ref_logps": [-3.0, -4.5, -2.0],
        "lengths": [2, 2, 3],
    }
    row.update(change)
    return {k: v for k, v in row.items() if v is not ...}  # `...` removes a field


def pool(**change) -> dict:
    row = {"prompt_id": "p1", "prompt": "Hi?", "responses": ["a", "b"], "rewards": [0.1, 0.2]}
    row.update(change)
    return {k: v for k, v in row.items() if v is not ...}


def test_records_round_trip_through_one_json_line():
    records = [
        PromptRecord("p0", MESSAGES),
        PoolRecord("p1", "Hi?", ["a", "b"]),
        PoolRecord("p1", "Hi?", ["a", "b"], [0.1, 0.2]),
        GroupRecord(**group(), extra={"pool_index": [3, 0, 1]}),
    ]
    for record, kind in zip(records, ["prompt", "pool", "pool", "group"], strict=True):
        assert parse_line(to_json_line(record), kind) == record


def test_none_fields_are_left_out_and_numpy_values_become_plain():
    pool_record = PoolRecord("p", "x", ("a", "b"), np.array([0.5, 1.5], dtype=np.float32))
    assert pool_record.rewards == (0.5, 1.5) and type(pool_record.rewards[0]) is float
    assert (
        to_json_line(PoolRecord("p", "x", ["a"]))
        == '{"prompt_id":"p","prompt":"x","responses":["a"]}'
    )
    g = GroupRecord("p", "x", ["a", "b"], [1, 0], np.int64(1), "s", lengths=np.array([3, 4]))
    assert g.positive == 1 and g.lengths == (3, 4) and g.rewards == (1.0, 0.0)
    assert json.loads(to_json_line(g)).keys() == {
        "prompt_id",
        "prompt",
        "responses",
        "rewards",
        "positive",
        "strategy",
        "lengths",
    }


def test_the_authors_column_names_are_aliases():
    text = json.dumps(
        {
            "prompt_id": "p",
            "prompt": "Hi?",
            "all_generated_responses": ["a", "b"],
            "all_reward_scores": [1, 2],
        }
    )
    assert parse_line(text, "pool") == PoolRecord("p", "Hi?", ["a", "b"], [1.0, 2.0])


def test_prompt_id_is_the_sha256_of_the_prompt_text():
    # sha256("hello"), the published test vector
    assert prompt_id_for("hello") == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    compact = '[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi?"}]'
    assert prompt_id_for(MESSAGES) == hashlib.sha256(compact.encode()).hexdigest()


# (kind, line text, field named, words of the problem); prompt_id 'p1' is named when readable
BAD = {
    "malformed JSON": ("pool", '{"prompt_id": "p1", "prompt": ', None, "malformed JSON"),
    "not an object": ("pool", "[1, 2]", None, "expected a JSON object"),
    "missing field": ("pool", pool(responses=...), "responses", "missing"),
    "missing positive": ("group", group(positive=...), "positive", "missing"),
    "unknown field": ("pool", pool(reward=[1.0, 2.0]), "reward", "unknown field"),
    "alias twice": ("pool", pool(all_reward_scores=[1, 2]), "all_reward_scores", "twice"),
    "prompt_id not a string": ("pool", pool(prompt_id=7), "prompt_id", "expected a string"),
    "prompt a number": ("pool", pool(prompt=5), "prompt", "list of messages"),
    "message without content": (
        "prompt",
        pool(prompt=[{"role": "user"}], responses=..., rewards=...),
        "prompt",
        "role, content",
    ),
    "responses a string": (
        "pool",
        pool(responses="ab", rewards=...),
        "responses",
        "list of strings",
    ),
    "response not a string": ("pool", pool(responses=["a", 3]), "responses", "entry 1"),
    "empty response list": ("pool", pool(responses=[], rewards=[]), "responses", "is empty"),
    "reward a string": ("pool", pool(rewards=[0.1, "x"]), "rewards", "not a number"),
    "reward a bool": ("pool", pool(rewards=[0.1, True]), "rewards", "not a number"),
    "NaN reward": ("group", group(rewards=[1.0, float("nan"), 0.0]), "rewards", "nan, not finite"),
    "inf reward": ("pool", pool(rewards=[float("inf"), 0.0]), "rewards", "inf, not finite"),
    "group of k = 1": ("group", group(responses=["4"], rewards=[1.0]), "responses", "k >= 2"),
    "rewards length": ("group", group(rewards=[1.0, 2.0]), "rewards", "2 entries, responses has 3"),
    "pool rewards length": ("pool", pool(rewards=[1.0]), "rewards", "1 entries, responses has 2"),
    "ref_logps length": ("group", group(ref_logps=[-1.0]), "ref_logps", "1 entries"),
    "lengths length": ("group", group(lengths=[1, 2, 3, 4]), "lengths", "4 entries"),
    "lengths not integers": ("group", group(lengths=[1, 2.5, 3]), "lengths", "not an integer"),
    "zero length": ("group", group(lengths=[1, 0, 3]), "lengths", ">= 1"),
    "positive out of range": ("group", group(positive=3), "positive", "out of range for k = 3"),
    "positive negative": ("group", group(positive=-1), "positive", "out of range"),
    "positive a bool": ("group", group(positive=True), "positive", "not an integer"),
    "empty strategy": ("group", group(strategy=""), "strategy", "is empty"),
    "extra not a dict": ("group", group(extra=[1]), "extra", "expected an object"),
}


@pytest.mark.parametrize("case", BAD)
def test_every_error_names_file_line_prompt_id_and_field(case, tmp_path):
    kind, row, field, problem = BAD[case]
    text = row if isinstance(row, str) else json.dumps(row)
    good = json.dumps(group(prompt_id="p0") if kind == "group" else pool(prompt_id="p0"))
    if kind == "prompt":
        good = json.dumps({"prompt_id": "p0", "prompt": "Hi?"})
    path = tmp_path / "stage.jsonl"
    path.write_text(f"{good}\n\n{text}\n")  # the bad record is on line 3 (line 2 is blank)
    with pytest.raises(RecordError) as caught:
        list(read_records(path, kind))
    message = str(caught.value)
    assert message.startswith(f"{path}, line 3")
    assert problem in message
    if field is not None:
        assert f"field {field!r}" in message and caught.value.field == field
    readable_id = isinstance(row, dict) and row.get("prompt_id") == "p1"
    assert ("prompt_id 'p1'" in message) == readable_id
    assert caught.value.line == 3


def test_a_duplicated_prompt_id_names_both_lines(tmp_path):
    path = tmp_path / "pools.jsonl"
    rows = [pool(prompt_id="a"), pool(prompt_id="b"), pool(prompt_id="a")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        RecordError, match=r"line 3, prompt_id 'a', field 'prompt_id'.*first at line 1"
    ):
        list(read_records(path, "pool"))


def test_errors_from_the_constructor_name_the_field():
    with pytest.raises(RecordError, match=r"^prompt_id 'q', field 'positive': 2 is out of range"):
        GroupRecord("q", "x", ["a", "b"], [0.0, 1.0], 2, "s")
    with pytest.raises(ValueError, match="unknown record kind 'pools'"):
        parse_line("{}", "pools")
