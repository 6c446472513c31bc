"""The records the pipeline's stages pass on disk, one JSON object a line, and their validation.

- `PromptRecord`: `prompt_id`, `prompt` (a string, or a list of {role, content} messages);
- `PoolRecord`: + `responses` (N >= 1 strings), `rewards` (N finite floats, after `score`);
- `GroupRecord`: `prompt_id`, `prompt`, `responses` (k >= 2), `rewards` (k), `positive` (index of
  the preferred response within the k), `strategy` (the selection that made the group),
  `ref_logps` (k, after `ref-logps`), `lengths` (k response token counts), `extra` (free dict).

Field names follow the AMPO datasets released by the authors: `all_generated_responses` and
`all_reward_scores` are read as aliases of `responses` and `rewards`. Optional fields that are
None (and an empty `extra`) are left out of the JSON line, so a pool gains its `rewards` key at
the `score` stage. Invalid input raises one `RecordError` naming the file, the line (or row),
the prompt_id when known and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields

import numpy as np

Message = dict[str, str]
Prompt = str | tuple[Message, ...]

ALIASES = {"all_generated_responses": "responses", "all_reward_scores": "rewards"}
MESSAGE_KEYS = ("role", "content")


class RecordError(ValueError):
    """An invalid record: the message names file, line (or row), prompt_id and field."""

    def __init__(self, problem, *, field=None, prompt_id=None, file=None, line=None, unit="line"):
        self.problem, self.field, self.prompt_id = problem, field, prompt_id
        self.file, self.line, self.unit = file, line, unit
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"{self.unit} {self.line}")
        if self.prompt_id is not None:
            where.append(f"prompt_id {self.prompt_id!r}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return (", ".join(where) + ": " if where else "") + self.problem

    def at(self, file=None, line=None, unit="line", prompt_id=None, fields=None) -> RecordError:
        """The same error located in a file; `fields` renames fields (record -> source column)."""
        name = (fields or {}).get(self.field, self.field)
        return RecordError(
            self.problem,
            field=name,
            prompt_id=self.prompt_id if self.prompt_id is not None else prompt_id,
            file=file if file is not None else self.file,
            line=line if line is not None else self.line,
            unit=unit,
        )


# --- field checks: each returns the normalised value or raises RecordError(field=name) ---------


def check_string(value, name, *, empty=False) -> str:
    if not isinstance(value, str):
        raise RecordError(f"expected a string, got {type(value).__name__}", field=name)
    if not empty and not value:
        raise RecordError("is empty", field=name)
    return value


def check_messages(value, name) -> tuple[Message, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise RecordError("expected a string or a non-empty list of messages", field=name)
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping) or set(m) != set(MESSAGE_KEYS):
            raise RecordError(f"message {i} is not an object with keys role, content", field=name)
        role, content = m["role"], m["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise RecordError(f"message {i}: role and content must be strings", field=name)
        out.append({"role": role, "content": content})
    return tuple(out)


def check_prompt(value, name="prompt") -> Prompt:
    return check_string(value, name) if isinstance(value, str) else check_messages(value, name)


def _strings(value, name, *, at_least) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise RecordError(f"expected a list of strings, got {type(value).__name__}", field=name)
    if not value:
        raise RecordError("is empty", field=name)
    if len(value) < at_least:
        raise RecordError(f"has {len(value)} entry; a group needs k >= {at_least}", field=name)
    for i, s in enumerate(value):
        if not isinstance(s, str):
            raise RecordError(f"entry {i} is {type(s).__name__}, not a string", field=name)
    return tuple(value)


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def check_numbers(value, name, n, *, integer=False) -> tuple:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise RecordError(f"expected a list of numbers, got {type(value).__name__}", field=name)
    if len(value) != n:
        raise RecordError(f"has {len(value)} entries, responses has {n}", field=name)
    out = []
    for i, x in enumerate(value):
        if integer:
            if not _is_int(x):
                raise RecordError(f"entry {i} is {x!r}, not an integer", field=name)
            if x < 1:
                raise RecordError(f"entry {i} is {x}, a token count must be >= 1", field=name)
            out.append(int(x))
        else:
            if not isinstance(x, numbers.Real) or isinstance(x, (bool, np.bool_)):
                raise RecordError(f"entry {i} is {x!r}, not a number", field=name)
            if not math.isfinite(x):
                raise RecordError(f"entry {i} is {x}, not finite", field=name)
            out.append(float(x))
    return tuple(out)


def _set(record, name, value):
    object.__setattr__(record, name, value)


def _validate_id_and_prompt(record):
    check_string(record.prompt_id, "prompt_id")
    try:
        _set(record, "prompt", check_prompt(record.prompt))
    except RecordError as err:
        raise err.at(prompt_id=record.prompt_id) from None


# --- the records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptRecord:
    prompt_id: str
    prompt: Prompt

    def __post_init__(self):
        _validate_id_and_prompt(self)


@dataclass(frozen=True)
class PoolRecord:
    prompt_id: str
    prompt: Prompt
    responses: tuple[str, ...]  # (N,)
    rewards: tuple[float, ...] | None = None  # (N,), after `score`

    def __post_init__(self):
        _validate_id_and_prompt(self)
        try:
            _set(self, "responses", _strings(self.responses, "responses", at_least=1))
            if self.rewards is not None:
                _set(self, "rewards", check_numbers(self.rewards, "rewards", len(self.responses)))
        except RecordError as err:
            raise err.at(prompt_id=self.prompt_id) from None


@dataclass(frozen=True)
class GroupRecord:
    prompt_id: str
    prompt: Prompt
    responses: tuple[str, ...]  # (k,), k >= 2
    rewards: tuple[float, ...]  # (k,)
    positive: int  # index of the preferred response within the k
    strategy: str  # the selection strategy (or dataset) that made the group
    ref_logps: tuple[float, ...] | None = None  # (k,), after `ref-logps`
    lengths: tuple[int, ...] | None = None  # (k,) response token counts
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        _validate_id_and_prompt(self)
        try:
            _set(self, "responses", _strings(self.responses, "responses", at_least=2))
            k = len(self.responses)
            _set(self, "rewards", check_numbers(self.rewards, "rewards", k))
            if not _is_int(self.positive):
                raise RecordError(f"{self.positive!r} is not an integer index", field="positive")
            if not 0 <= self.positive < k:
                raise RecordError(f"{self.positive} is out of range for k = {k}", field="positive")
            _set(self, "positive", int(self.positive))
            check_string(self.strategy, "strategy")
            if self.ref_logps is not None:
                _set(self, "ref_logps", check_numbers(self.ref_logps, "ref_logps", k))
            if self.lengths is not None:
                _set(self, "lengths", check_numbers(self.lengths, "lengths", k, integer=True))
            if not isinstance(self.extra, dict):
                raise RecordError("expected an object", field="extra")
        except RecordError as err:
            raise err.at(prompt_id=self.prompt_id) from None


KINDS: dict[str, type] = {"prompt": PromptRecord, "pool": PoolRecord, "group": GroupRecord}
Record = PromptRecord | PoolRecord | GroupRecord


def record_class(kind: str) -> type:
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r} (known: {', '.join(KINDS)})")
    return KINDS[kind]


# --- to and from JSON -------------------------------------------------------------------------


def to_dict(record: Record) -> dict:
    """The JSON object of a record; None optional fields and an empty `extra` are left out."""
    out = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None or (f.name == "extra" and not value):
            continue
        if isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def to_json_line(record: Record) -> str:
    """One line of a stage file (no newline): compact, UTF-8 text, NaN refused."""
    return json.dumps(to_dict(record), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_dict(obj, kind: str) -> Record:
    """Validate a parsed JSON object as a record of `kind` (aliases accepted, unknown keys not)."""
    cls = record_class(kind)
    if not isinstance(obj, Mapping):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    pid = obj.get("prompt_id") if isinstance(obj.get("prompt_id"), str) else None
    values = {}
    for key, value in obj.items():
        name = ALIASES.get(key, key)
        if name in values:
            raise RecordError(f"given twice (as {name!r} and an alias)", field=key, prompt_id=pid)
        values[name] = value
    names = [f.name for f in fields(cls)]
    unknown = [key for key in values if key not in names]
    if unknown:
        raise RecordError(f"unknown field for a {kind} record", field=unknown[0], prompt_id=pid)
    for f in fields(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        if required and f.name not in values:
            raise RecordError("missing", field=f.name, prompt_id=pid)
    return cls(**values)


def parse_line(text: str, kind: str, *, file=None, line=None, unit="line") -> Record:
    """A record from one JSON line; any problem raises a RecordError located at file:line."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError(f"malformed JSON ({err.msg} at column {err.colno})").at(
            file, line, unit
        ) from None
    try:
        return from_dict(obj, kind)
    except RecordError as err:
        raise err.at(file, line, unit) from None


def prompt_id_for(prompt: Prompt) -> str:
    """Stable id of a prompt: sha256 hex of its UTF-8 text (the convention of UltraFeedback's
    `prompt_id`); a message list is hashed as its compact JSON (keys role, content in order)."""
    if isinstance(prompt, str):
        text = prompt
    else:
        msgs = [{"role": m["role"], "content": m["content"]} for m in prompt]
        text = json.dumps(msgs, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
