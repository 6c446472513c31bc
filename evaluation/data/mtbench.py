"""MT-bench: questions, GPT-4 reference answers and judge prompts from a FastChat data folder.

Files needed (lm-sys/FastChat, `fastchat/llm_judge/data/`; the fschat wheel ships none of them):
`mt_bench/question.jsonl`, `mt_bench/reference_answer/gpt-4.jsonl`, `judge_prompts.jsonl`. One line:

    git clone --depth 1 https://github.com/lm-sys/FastChat && DIR=FastChat/fastchat/llm_judge/data/mt_bench

`load_mt_bench(DIR)` reads `question.jsonl` and `reference_answer/gpt-4.jsonl` in DIR and
`judge_prompts.jsonl` in DIR or its parent (FastChat keeps it one level up).

Formats (FastChat):
- question: `{"question_id": int, "category": str, "turns": [str, ...], "reference"?: [str, ...]}`
- answer (`model_answer/<model>.jsonl`, also the reference answers):
  `{"question_id", "answer_id", "model_id", "choices": [{"index": 0, "turns": [str, ...]}], "tstamp"}`
- judge prompt: `{"name", "type", "system_prompt", "prompt_template", "description", "category",
  "output_format"}`
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from evaluation.data.files import (
    BenchmarkDataError,
    read_jsonl,
    require_string,
    require_strings,
    sha256_file,
    write_jsonl,
)

QUESTION_FILE = "question.jsonl"
REFERENCE_FILE = "reference_answer/gpt-4.jsonl"
REFERENCE_MODEL = "gpt-4"  # FastChat looks references up by this file name
JUDGE_PROMPTS_FILE = "judge_prompts.jsonl"

# FastChat gen_model_answer.py `temperature_config`; any other category gets DEFAULT_TEMPERATURE.
TEMPERATURE_BY_CATEGORY = MappingProxyType(
    {
        "writing": 0.7,
        "roleplay": 0.7,
        "extraction": 0.0,
        "math": 0.0,
        "coding": 0.0,
        "reasoning": 0.0,
        "stem": 0.1,
        "humanities": 0.1,
    }
)
DEFAULT_TEMPERATURE = 0.7
GREEDY_BELOW = 1e-4  # FastChat decodes greedily when temperature < 1e-4
MAX_NEW_TOKENS = 1024
# FastChat common.py NEED_REF_CATS: judged with the math prompts and a reference answer.
NEED_REF_CATEGORIES = ("math", "reasoning", "coding", "arena-hard-200")


@dataclass(frozen=True)
class Sampling:
    """Decoding settings for one MT-bench answer (both turns)."""

    temperature: float
    max_new_tokens: int = MAX_NEW_TOKENS

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


def sampling_for(category: str) -> Sampling:
    return Sampling(TEMPERATURE_BY_CATEGORY.get(category, DEFAULT_TEMPERATURE))


@dataclass(frozen=True)
class Question:
    question_id: int
    category: str
    turns: tuple[str, ...]
    reference: tuple[str, ...] | None = None  # inline; FastChat's judge does not read it

    def to_dict(self) -> dict:
        out = {
            "question_id": self.question_id,
            "category": self.category,
            "turns": list(self.turns),
        }
        if self.reference is not None:
            out["reference"] = list(self.reference)
        return out


@dataclass(frozen=True)
class Answer:
    """One line of a FastChat answer file (`choices[0].turns` are the model's turns)."""

    question_id: int
    model_id: str
    turns: tuple[str, ...]
    answer_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    tstamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return {
            "question_id": self.question_id,
            "answer_id": self.answer_id,
            "model_id": self.model_id,
            "choices": [{"index": 0, "turns": list(self.turns)}],
            "tstamp": self.tstamp,
        }


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    type: str
    system_prompt: str
    prompt_template: str
    description: str
    category: str
    output_format: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MTBench:
    questions: tuple[Question, ...]
    references: MappingProxyType  # question_id -> Answer of REFERENCE_MODEL
    judge_prompts: MappingProxyType  # name -> JudgePrompt
    sha256: MappingProxyType  # file name relative to the folder -> hex digest

    def question(self, question_id: int) -> Question:
        return self.by_id[question_id]

    @cached_property
    def by_id(self) -> dict[int, Question]:
        return {q.question_id: q for q in self.questions}


def _question_id(obj: dict, **where) -> int:
    if "question_id" not in obj:
        raise BenchmarkDataError("is missing", field="question_id", **where)
    qid = obj["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, int):
        raise BenchmarkDataError(f"expected an integer, got {qid!r}", field="question_id", **where)
    return qid


def _parse_question(obj: dict, **where) -> Question:
    if "instruction" in obj:
        raise BenchmarkDataError(
            "holds an AlpacaEval record (instruction), not an MT-bench question", **where
        )
    qid = _question_id(obj, **where)
    where["record"] = f"question_id {qid}"
    reference = obj.get("reference")
    return Question(
        question_id=qid,
        category=require_string(obj, "category", **where),
        turns=require_strings(obj.get("turns"), "turns", **where),
        reference=None
        if reference is None
        else require_strings(reference, "reference", empty=True, **where),
    )


def parse_answer(obj: dict, empty_turns: bool = False, **where) -> Answer:
    """One FastChat answer object; errors name `question_id` and the field. `empty_turns`: a
    model's turn may be empty (it answered with EOS); a reference answer's may not."""
    if "instruction" in obj:
        raise BenchmarkDataError(
            "holds an AlpacaEval record (instruction), not an MT-bench answer", **where
        )
    qid = _question_id(obj, **where)
    where["record"] = f"question_id {qid}"
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BenchmarkDataError("expected a non-empty list of objects", field="choices", **where)
    tstamp = obj.get("tstamp")
    if isinstance(tstamp, bool) or not isinstance(tstamp, (int, float)):
        raise BenchmarkDataError(f"expected a number, got {tstamp!r}", field="tstamp", **where)
    return Answer(
        question_id=qid,
        model_id=require_string(obj, "model_id", **where),
        turns=require_strings(
            choices[0].get("turns"), "choices[0].turns", empty=empty_turns, **where
        ),
        answer_id=require_string(obj, "answer_id", **where),
        tstamp=float(tstamp),
    )


def _unique(items, key, label, path):
    """Map key -> item, raising on the second occurrence of a key."""
    out: dict = {}
    for line, item in items:
        k = key(item)
        if k in out:
            raise BenchmarkDataError(f"duplicate {label} {k!r}", file=path, line=line, field=label)
        out[k] = item
    return out


def read_questions(path: str | Path) -> tuple[Question, ...]:
    parsed = [(n, _parse_question(obj, file=path, line=n)) for n, obj in read_jsonl(path)]
    return tuple(_unique(parsed, lambda q: q.question_id, "question_id", path).values())


def read_answers(path: str | Path) -> list[Answer]:
    """A FastChat answer file as written (duplicates are kept; `check_answers` rejects them)."""
    return [parse_answer(obj, True, file=path, line=n) for n, obj in read_jsonl(path)]


def write_answers(path: str | Path, answers) -> Path:
    """Atomically write a FastChat `model_answer/<model>.jsonl`, sorted by question_id as FastChat does."""
    return write_jsonl(path, [a.to_dict() for a in sorted(answers, key=lambda a: a.question_id)])


def read_judge_prompts(path: str | Path) -> MappingProxyType:
    parsed = []
    for n, obj in read_jsonl(path):
        where = {"file": path, "line": n}
        name = require_string(obj, "name", **where)
        where["record"] = f"judge prompt {name!r}"
        values = {
            k: require_string(obj, k, empty=True, **where) for k in JudgePrompt.__dataclass_fields__
        }
        parsed.append((n, JudgePrompt(**values)))
    return MappingProxyType(_unique(parsed, lambda p: p.name, "name", path))


def check_answers(bench: MTBench, answers, *, file=None) -> None:
    """Each benchmark question answered exactly once, with as many non-empty turns as it has."""
    seen: set[int] = set()
    by_id = bench.by_id
    for i, answer in enumerate(answers):
        where = {"file": file, "line": i + 1, "record": f"question_id {answer.question_id}"}
        question = by_id.get(answer.question_id)
        if question is None:
            raise BenchmarkDataError(
                "not a question of this benchmark (wrong answers file?)",
                field="question_id",
                **where,
            )
        if answer.question_id in seen:
            raise BenchmarkDataError("answered twice", field="question_id", **where)
        seen.add(answer.question_id)
        if len(answer.turns) != len(question.turns):
            raise BenchmarkDataError(
                f"{len(answer.turns)} turns for a question of {len(question.turns)}",
                field="choices[0].turns",
                **where,
            )
    missing = [q.question_id for q in bench.questions if q.question_id not in seen]
    if missing:
        raise BenchmarkDataError(
            f"{len(missing)} question(s) unanswered, first question_id {missing[0]}", file=file
        )


def load_mt_bench(directory: str | Path) -> MTBench:
    """Questions, reference answers and judge prompts from a FastChat `data/mt_bench` folder.

    Checks: ids unique, every reference answers a known question with its number of turns, every
    question of a NEED_REF category has a reference, judge prompt names unique.
    """
    directory = Path(directory)
    question_path = directory / QUESTION_FILE
    reference_path = directory / REFERENCE_FILE
    prompts_path = directory / JUDGE_PROMPTS_FILE
    if not prompts_path.exists():
        prompts_path = directory.parent / JUDGE_PROMPTS_FILE
    for p in (question_path, reference_path, prompts_path):
        if not p.exists():
            raise FileNotFoundError(
                f"{p}: MT-bench needs this FastChat file (see evaluation/data/mtbench.py)"
            )
    questions = read_questions(question_path)
    prompts = read_judge_prompts(prompts_path)
    by_id = {q.question_id: q for q in questions}
    references: dict[int, Answer] = {}
    for n, obj in read_jsonl(reference_path):
        answer = parse_answer(obj, file=reference_path, line=n)
        where = {"file": reference_path, "line": n, "record": f"question_id {answer.question_id}"}
        question = by_id.get(answer.question_id)
        if question is None:
            raise BenchmarkDataError(
                "answers no question in question.jsonl", field="question_id", **where
            )
        if answer.question_id in references:
            raise BenchmarkDataError("duplicate reference answer", field="question_id", **where)
        if len(answer.turns) != len(question.turns):
            raise BenchmarkDataError(
                f"{len(answer.turns)} turns for a question of {len(question.turns)}",
                field="choices[0].turns",
                **where,
            )
        references[answer.question_id] = answer
    for q in questions:
        if q.category in NEED_REF_CATEGORIES and q.question_id not in references:
            raise BenchmarkDataError(
                f"category {q.category!r} is judged against a reference, and none is given",
                file=reference_path,
                record=f"question_id {q.question_id}",
            )
    hashes = {
        str(p.relative_to(prompts_path.parent)): sha256_file(p)
        for p in (question_path, reference_path, prompts_path)
    }
    return MTBench(
        questions=questions,
        references=MappingProxyType(references),
        judge_prompts=prompts,
        sha256=MappingProxyType(hashes),
    )
