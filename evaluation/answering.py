"""A model answers a benchmark through the one generation interface (`training.generation`).

AlpacaEval: each instruction is one user turn, decoded with a preset (`evaluation.decoding`).
MT-bench: each question is one conversation; turn t sees the model's own answers to turns
1..t-1, decoded with FastChat's per-category temperature. Both use the model's chat template
(the backend renders it) and per-item request seeds, so an answer depends on (seed, item,
decoding) only: a resumed run gives the answers an uninterrupted one would. Answers are
stripped of surrounding whitespace, as FastChat and alpaca_eval store them; a model may answer
with nothing, which is kept and counted.
"""

from __future__ import annotations

from collections import defaultdict

from tqdm.auto import tqdm

from evaluation.data.alpaca import AlpacaEval, ModelOutput
from evaluation.data.mtbench import Answer, MTBench
from evaluation.decoding import Decoding, mt_bench_sampling
from evaluation.progress import Progress
from training.generation.sampling import derive_seed

CHUNK = 32  # prompts per generate call, kept together on an interruption


def _chunks(items: list, size: int | None = None):
    size = CHUNK if size is None else size  # read at call time (a test may set a small CHUNK)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def answer_alpaca_eval(
    generator, bench: AlpacaEval, name: str, decoding: Decoding, seed: int, progress: Progress
) -> list[ModelOutput]:
    """One output per instruction, in benchmark order; `name` is alpaca_eval's `generator`."""
    sampling = decoding.sampling(seed)
    todo = [i for i, ins in enumerate(bench.instructions) if ins not in progress.done]
    with tqdm(
        total=len(bench), initial=len(bench) - len(todo), desc="alpaca_eval", unit="q"
    ) as bar:
        for chunk in _chunks(todo):
            prompts = [bench.instructions[i] for i in chunk]
            seeds = [derive_seed("alpaca_eval", seed, p) for p in prompts]
            texts = generator.generate(prompts, sampling, seeds)
            progress.add({p: t[0].strip() for p, t in zip(prompts, texts, strict=True)})
            bar.update(len(chunk))
    return [
        ModelOutput(row.dataset, row.instruction, progress.done[row.instruction], name)
        for row in bench.baseline
    ]


def _conversation(question_turns, answers) -> list[dict]:
    """The messages for the next turn: every earlier user turn with the model's answer."""
    messages = []
    for user, assistant in zip(question_turns, answers, strict=False):
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    messages.append({"role": "user", "content": question_turns[len(answers)]})
    return messages


def answer_mt_bench(
    generator,
    bench: MTBench,
    model_id: str,
    seed: int,
    max_new_tokens: int,
    progress: Progress,
) -> list[Answer]:
    """One answer per question (all its turns), in question order; `model_id` is FastChat's."""
    answers: dict[int, list[str]] = {q.question_id: [] for q in bench.questions}
    for key, turns in progress.done.items():
        answers[int(key)] = list(turns)
    n_turns = max(len(q.turns) for q in bench.questions)
    total = sum(len(q.turns) for q in bench.questions)
    done = sum(len(a) for a in answers.values())
    with tqdm(total=total, initial=done, desc="mt_bench", unit="turn") as bar:
        for turn in range(n_turns):  # every question's turn t before any turn t + 1
            by_category = defaultdict(list)
            for q in bench.questions:
                if len(q.turns) > turn and len(answers[q.question_id]) == turn:
                    by_category[q.category].append(q)
            for category, questions in by_category.items():
                for chunk in _chunks(questions):
                    sampling = mt_bench_sampling(category, seed, max_new_tokens)
                    prompts = [_conversation(q.turns, answers[q.question_id]) for q in chunk]
                    seeds = [derive_seed("mt_bench", seed, q.question_id, turn) for q in chunk]
                    texts = generator.generate(prompts, sampling, seeds)
                    for q, t in zip(chunk, texts, strict=True):
                        answers[q.question_id].append(t[0].strip())
                    # a question is recorded with the turns it has so far
                    progress.add({str(q.question_id): answers[q.question_id] for q in chunk})
                    bar.update(len(chunk))
    return [Answer(q.question_id, model_id, tuple(answers[q.question_id])) for q in bench.questions]
