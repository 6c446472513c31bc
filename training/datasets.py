"""Readers of the pipeline's inputs: prompt sets, the AMPO selections the authors released, and
UltraFeedback-binarized pairs, from a local file or the Hugging Face hub.

A source is a local `.jsonl`, `.json` (a list of objects, or {"data": [...]}) or `.parquet` file;
anything that is not a local file (a hub name such as
`Multi-preference-Optimization/AMPO-Coreset-selection`, or a local dataset folder) goes through
`datasets.load_dataset(source, split=split)`. Every reader yields validated records
(`training.records`) and raises one `RecordError` naming the file, the line (JSONL, JSON syntax
errors) or row (JSON list, Parquet, hub), the prompt_id when known and the column. A prompt_id
seen twice in one source is an error.

The AMPO datasets (`AMPO-Coreset-selection`, `AMPO-OPT-Selection`; columns prompt_id, prompt,
all_generated_responses, all_reward_scores, A0..A7, score_A0..score_A7) hold each selected
response A_i as a conversation [{role: user, content: prompt}, {role: assistant, content: the
response}] (their dataset cards list A_i as a list of {content, role}); a bare string is read
too. The assistant text must be one of all_generated_responses (their order is not assumed; the
matching pool indices are kept in `extra["pool_index"]`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from training.records import (
    GroupRecord,
    PoolRecord,
    PromptRecord,
    RecordError,
    check_messages,
    check_numbers,
    check_prompt,
    check_string,
    prompt_id_for,
)

SUFFIXES = (".jsonl", ".json", ".parquet")
AMPO_COLUMNS = {"all_generated_responses": "responses", "all_reward_scores": "rewards"}


class Location(NamedTuple):
    file: str
    line: int  # 1-based line (JSONL) or row (JSON list, Parquet, hub split)
    unit: str  # "line" or "row"


# --- rows from a source -----------------------------------------------------------------------


def is_local_file(source) -> bool:
    path = Path(source)
    if path.suffix in SUFFIXES and not path.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    return path.is_file()


def source_name(source, split: str | None = None) -> str:
    """How a source is named in errors: the path, or `name [split]`."""
    return str(source) if is_local_file(source) else f"{source} [{split}]"


def dataset_name(source) -> str:
    """How a source is named in a group's `strategy`: the file's stem, or the hub name."""
    return Path(source).stem if is_local_file(source) else str(source)


def iter_rows(source, split: str = "train") -> Iterator[tuple[Location, dict]]:
    """(location, row) for each row of a local file or a `datasets.load_dataset` split."""
    if not is_local_file(source):
        import datasets

        name = source_name(source, split)
        for i, row in enumerate(datasets.load_dataset(str(source), split=split), start=1):
            yield Location(name, i, "row"), row
        return
    path, name = Path(source), str(source)
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as handle:
            for i, text in enumerate(handle, start=1):
                if text.strip():
                    yield Location(name, i, "line"), _json(text, Location(name, i, "line"))
    elif path.suffix == ".json":
        data = _json(path.read_text(encoding="utf-8"), Location(name, 1, "line"))
        if isinstance(data, Mapping) and "data" in data:
            data = data["data"]
        if not isinstance(data, list):
            raise RecordError("expected a list of objects or {'data': [...]}", file=name)
        for i, row in enumerate(data, start=1):
            yield Location(name, i, "row"), row
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        i = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                i += 1
                yield Location(name, i, "row"), row
    else:
        raise ValueError(f"{source}: unsupported file type (supported: {', '.join(SUFFIXES)})")


def _json(text: str, at: Location):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        line = at.line if at.unit == "line" and at.line > 1 else err.lineno
        raise RecordError(f"malformed JSON ({err.msg} at column {err.colno})").at(
            at.file, line, "line"
        ) from None


def _column(row, name: str):
    if not isinstance(row, Mapping):
        raise RecordError(f"expected an object, got {type(row).__name__}")
    if name not in row or row[name] is None:
        raise RecordError("missing", field=name)
    return row[name]


def _records(source, split: str, make: Callable[[dict, Location], object], fields=None) -> Iterator:
    """Apply `make` to every row, locating its errors; refuse a prompt_id seen twice."""
    seen: dict[str, int] = {}
    for at, row in iter_rows(source, split):
        pid = row.get("prompt_id") if isinstance(row, Mapping) else None
        pid = pid if isinstance(pid, str) else None
        try:
            record = make(row, at)
        except RecordError as err:
            raise err.at(at.file, at.line, at.unit, prompt_id=pid, fields=fields) from None
        if record.prompt_id in seen:
            raise RecordError(
                f"duplicate prompt_id (first at {at.unit} {seen[record.prompt_id]})",
                field="prompt_id",
                prompt_id=record.prompt_id,
            ).at(at.file, at.line, at.unit)
        seen[record.prompt_id] = at.line
        yield record


# --- conversations ----------------------------------------------------------------------------


def _reply(conversation, prompt, column: str) -> tuple[tuple, str]:
    """(context, assistant reply) of a conversation ending in an assistant turn whose user turn
    is `prompt` (a string: the last user turn's content; a message list: the whole context)."""
    msgs = check_messages(conversation, column)
    if msgs[-1]["role"] != "assistant":
        raise RecordError("the last message is not the assistant's", field=column)
    context = msgs[:-1]
    if context:
        users = [m["content"] for m in context if m["role"] == "user"]
        if isinstance(prompt, str) and (not users or users[-1] != prompt):
            raise RecordError("the user turn does not match the prompt", field=column)
        if not isinstance(prompt, str) and context != tuple(prompt):
            raise RecordError("the conversation does not start with the prompt", field=column)
    return context, msgs[-1]["content"]


def _score(row, column: str) -> float:
    return check_numbers([_column(row, column)], column, 1)[0]


# --- prompts ----------------------------------------------------------------------------------


def read_prompts(source, split: str = "train") -> Iterator[PromptRecord]:
    """Prompts from a `prompt` column (string or message list) and an optional `prompt_id`
    (string or integer); without one, `prompt_id_for(prompt)`: sha256 of the prompt's text."""

    def make(row, at):
        prompt = check_prompt(_column(row, "prompt"))
        pid = row.get("prompt_id")
        if pid is None:
            pid = prompt_id_for(prompt)
        elif isinstance(pid, int) and not isinstance(pid, bool):
            pid = str(pid)
        return PromptRecord(pid, prompt)

    return _records(source, split, make)


# --- the AMPO selections released by the authors ----------------------------------------------


def read_ampo_pools(source, split: str = "train_prefs") -> Iterator[PoolRecord]:
    """Full candidate pools: all_generated_responses (N) and all_reward_scores (N)."""

    def make(row, at):
        return PoolRecord(
            _column(row, "prompt_id"),
            _column(row, "prompt"),
            _column(row, "all_generated_responses"),
            _column(row, "all_reward_scores"),
        )

    return _records(source, split, make, fields={v: k for k, v in AMPO_COLUMNS.items()})


def _selected_columns(row) -> list[str]:
    names, i = [], 0
    while f"A{i}" in row:
        names.append(f"A{i}")
        i += 1
    return names


def read_ampo_groups(
    source, split: str = "train_prefs", *, strategy: str | None = None, check_pool: bool = True
) -> Iterator[GroupRecord]:
    """The released selections A0..A{k-1} as groups of k: rewards = score_A*, positive = their
    argmax (first on ties), strategy = `strategy` or the source's name. With `check_pool`, each
    A_i must be one of all_generated_responses; the pool index is kept in extra["pool_index"]."""

    def make(row, at):
        prompt = check_prompt(_column(row, "prompt"))
        columns = _selected_columns(row)
        if not columns:
            raise RecordError("missing (no selected responses A0, A1, ...)", field="A0")
        responses = []
        for column in columns:
            value = _column(row, column)
            responses.append(
                check_string(value, column, empty=True)
                if isinstance(value, str)
                else _reply(value, prompt, column)[1]
            )
        rewards = [_score(row, f"score_{c}") for c in columns]
        extra = {"source": at.file}
        if check_pool:
            extra["pool_index"] = _pool_index(row, columns, responses)
        positive = max(range(len(rewards)), key=rewards.__getitem__)
        return GroupRecord(
            _column(row, "prompt_id"),
            prompt,
            responses,
            rewards,
            positive,
            strategy or dataset_name(source),
            extra=extra,
        )

    return _records(source, split, make)


def _pool_index(row, columns, responses) -> list[int]:
    """Position of each selected response in all_generated_responses (distinct positions when a
    text occurs several times)."""
    pool = _column(row, "all_generated_responses")
    free: dict[str, list[int]] = {}
    for j, text in enumerate(pool):
        free.setdefault(text, []).append(j)
    index = []
    for column, text in zip(columns, responses, strict=True):
        if not free.get(text):
            raise RecordError("response is not one of all_generated_responses", field=column)
        index.append(free[text].pop(0))
    return index


# --- UltraFeedback-binarized ------------------------------------------------------------------


def read_ultrafeedback(
    source, split: str = "train_prefs", *, strategy: str | None = None
) -> Iterator[GroupRecord]:
    """Pairs as k = 2 groups: responses = (chosen, rejected) assistant replies, rewards =
    (score_chosen, score_rejected) (MMPO's soft target needs them), positive = 0. Both
    conversations must share their context and its user turn must be `prompt`."""

    def make(row, at):
        prompt = check_string(_column(row, "prompt"), "prompt")
        chosen_context, chosen = _reply(_column(row, "chosen"), prompt, "chosen")
        rejected_context, rejected = _reply(_column(row, "rejected"), prompt, "rejected")
        if rejected_context != chosen_context:
            raise RecordError("its context differs from chosen's", field="rejected")
        single_turn = chosen_context in ((), ({"role": "user", "content": prompt},))
        return GroupRecord(
            _column(row, "prompt_id"),
            prompt if single_turn else chosen_context,
            [chosen, rejected],
            [_score(row, "score_chosen"), _score(row, "score_rejected")],
            0,
            strategy or dataset_name(source),
        )

    return _records(source, split, make)


READERS = {
    "prompts": read_prompts,
    "ampo-pools": read_ampo_pools,
    "ampo-groups": read_ampo_groups,
    "ultrafeedback": read_ultrafeedback,
}
