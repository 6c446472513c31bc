"""MT-bench judge requests, built as FastChat's `common.run_judge_single` builds them.

Which prompt: a question of a NEED_REF category (math, reasoning, coding) is judged against the
GPT-4 reference answer with `single-math-v1` (turn 1) / `single-math-v1-multi-turn` (turn 2);
any other with `single-v1` / `single-v1-multi-turn` (FastChat `gen_judgment.make_judge_single`).

How it is filled (FastChat `run_judge_single`):
- turn 1: `prompt_template.format(question=turns[0], answer=answer turns[0], **ref)`;
- turn 2: `format(question_1, question_2, answer_1, answer_2, **ref)`, the whole conversation;
- `ref` (reference-guided prompts only) is `ref_answer_1`, `ref_answer_2` = the reference's two
  turns; the templates use only the placeholders they name (turn 1 shows `ref_answer_1` only).
- messages: `[{"role": "system", "content": system_prompt}, {"role": "user", "content": ...}]`
  (FastChat's "gpt-4" conversation with its system message set, in OpenAI form);
- decoding: temperature 0, max_tokens 2048 (FastChat's OpenAI judges).
"""

from __future__ import annotations

from dataclasses import dataclass

from evaluation.data.mtbench import NEED_REF_CATEGORIES, Answer, MTBench, Question
from evaluation.judge import JudgeRequest

JUDGE_TEMPERATURE = 0.0
JUDGE_MAX_TOKENS = 2048
TURNS = (1, 2)  # MT-bench judges the first turn alone, then the two-turn conversation

# (reference-guided, turn) -> judge prompt name in judge_prompts.jsonl
SINGLE_PROMPTS = {
    (False, 1): "single-v1",
    (True, 1): "single-math-v1",
    (False, 2): "single-v1-multi-turn",
    (True, 2): "single-math-v1-multi-turn",
}


def needs_reference(question: Question) -> bool:
    return question.category in NEED_REF_CATEGORIES


def single_prompt_name(question: Question, turn: int) -> str:
    if turn not in TURNS:
        raise ValueError(f"mt-bench: turn must be one of {TURNS}, got {turn!r}")
    return SINGLE_PROMPTS[(needs_reference(question), turn)]


@dataclass(frozen=True)
class SingleMatch:
    """One judge call: what FastChat's judgment row records beside the verdict."""

    question_id: int
    turn: int
    prompt_name: str
    user_prompt: str
    request: JudgeRequest


def build_single(
    bench: MTBench, question: Question, answer: Answer, turn: int, judge_model: str | None = None
) -> SingleMatch:
    """The judge request for `answer` to `question` at `turn` (1 or 2)."""
    name = single_prompt_name(question, turn)
    prompt = bench.judge_prompts[name]
    if prompt.output_format != "[[rating]]":
        raise ValueError(
            f"mt-bench: judge prompt {name!r} has output format {prompt.output_format!r}"
        )
    if answer.question_id != question.question_id:
        raise ValueError(
            f"mt-bench: answer to question {answer.question_id} given for {question.question_id}"
        )
    ref = {}
    if needs_reference(question):
        reference = bench.references.get(question.question_id)
        if reference is None:
            raise ValueError(f"mt-bench: question {question.question_id} has no reference answer")
        ref = {"ref_answer_1": reference.turns[0], "ref_answer_2": reference.turns[1]}
    if turn == 1:
        user_prompt = prompt.prompt_template.format(
            question=question.turns[0], answer=answer.turns[0], **ref
        )
    else:
        if len(question.turns) != 2 or len(answer.turns) != 2:
            raise ValueError(f"mt-bench: question {question.question_id} has no second turn")
        user_prompt = prompt.prompt_template.format(
            question_1=question.turns[0],
            question_2=question.turns[1],
            answer_1=answer.turns[0],
            answer_2=answer.turns[1],
            **ref,
        )
    messages = (
        {"role": "system", "content": prompt.system_prompt},
        {"role": "user", "content": user_prompt},
    )
    request = JudgeRequest(
        messages, model=judge_model, temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS
    )
    return SingleMatch(question.question_id, turn, name, user_prompt, request)
