"""Small benchmark files in the real formats, shared by the evaluation tests (never the real ones).

- `write_alpaca_eval(dir, rows)`: alpaca_eval's `alpaca_eval_gpt4_baseline.json` (a JSON list of
  dataset / instruction / output / generator records).
- `write_mt_bench(dir, questions, references)`: FastChat's `data/mt_bench/` folder (question.jsonl,
  reference_answer/gpt-4.jsonl) with `judge_prompts.jsonl` one level up, as in FastChat's tree.

The judge prompts keep FastChat's templates (judge_prompts.jsonl) verbatim except the long
instruction paragraphs, shortened to "I1." etc.; every placeholder and separator is FastChat's.
"""

from __future__ import annotations

import json
from pathlib import Path

BASELINE_FILE = "alpaca_eval_gpt4_baseline.json"
BASELINE = [  # the real file's shape: dataset, instruction, output, generator
    {
        "dataset": "helpful_base",
        "instruction": "Name a Broadway actor.",
        "output": "Hugh Jackman.",
        "generator": "gpt4_1106_preview",
    },
    {
        "dataset": "koala",
        "instruction": "Explain tides.",
        "output": "The Moon pulls water.",
        "generator": "gpt4_1106_preview",
    },
    {
        "dataset": "vicuna",
        "instruction": "Write a haiku about rain.",
        "output": "Rain on tin roofs...",
        "generator": "gpt4_1106_preview",
    },
]

A_CONV = "<|The Start of Assistant A's Conversation with User|>\n\n"
A_CONV_END = "<|The End of Assistant A's Conversation with User|>"
TWO_TURNS = (
    "### User:\n{question_1}\n\n### Assistant A:\n{answer_1}\n\n"
    "### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n"
)
TEMPLATES = {  # name: (system_prompt, prompt_template)
    "single-v1": (
        "You are a helpful assistant.",
        "[Instruction]\nI1.\n\n[Question]\n{question}\n\n"
        "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]",
    ),
    "single-math-v1": (
        "You are a helpful assistant.",
        "[Instruction]\nI2.\n\n[Question]\n{question}\n\n"
        "[The Start of Reference Answer]\n{ref_answer_1}\n[The End of Reference Answer]\n\n"
        "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]",
    ),
    "single-v1-multi-turn": ("S3.\n\n", A_CONV + TWO_TURNS + A_CONV_END),
    "single-math-v1-multi-turn": (
        "S4.\n\n",
        "<|The Start of Reference Answer|>\n\n### User:\n{question_1}\n\n### Reference answer:\n"
        "{ref_answer_1}\n\n### User:\n{question_2}\n\n### Reference answer:\n{ref_answer_2}\n\n"
        "<|The End of Reference Answer|>\n\n\n" + A_CONV + TWO_TURNS + A_CONV_END,
    ),
}
B_CONV = "<|The Start of Assistant B's Conversation with User|>\n\n"
B_CONV_END = "<|The End of Assistant B's Conversation with User|>"
B_TURNS = TWO_TURNS.replace("Assistant A:", "Assistant B:").replace("answer_", "answer_b_")
PAIR_TEMPLATES = {  # FastChat's pair-v2 and pair-math-v1-multi-turn (the other two likewise)
    "pair-v2": (
        "P1.",
        "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
        "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
        "[The End of Assistant B's Answer]",
    ),
    "pair-math-v1-multi-turn": (
        "P4.",
        "<|The Start of Reference Answer|>\n\n### User:\n{question_1}\n\n### Reference answer:\n"
        "{ref_answer_1}\n\n### User:\n{question_2}\n\n### Reference answer:\n{ref_answer_2}\n\n"
        "<|The End of Reference Answer|>\n\n\n"
        + A_CONV
        + TWO_TURNS.replace("answer_", "answer_a_")
        + A_CONV_END
        + "\n\n\n"
        + B_CONV
        + B_TURNS
        + B_CONV_END,
    ),
    "pair-math-v1": ("P2.", "{question}|{ref_answer_1}|{answer_a}|{answer_b}"),
    "pair-v2-multi-turn": (
        "P3.",
        "{question_1}|{question_2}|{answer_a_1}|{answer_b_1}|{answer_a_2}|{answer_b_2}",
    ),
}
QUESTIONS = [  # question.jsonl: question_id, category, turns, optional inline reference
    {"question_id": 81, "category": "writing", "turns": ["Q1w", "Q2w"]},
    {"question_id": 101, "category": "reasoning", "turns": ["Q1r", "Q2r"], "reference": ["X", ""]},
    {"question_id": 111, "category": "math", "turns": ["Q1m", "Q2m"]},
]


def references(question_ids=(101, 111)) -> list[dict]:
    """reference_answer/gpt-4.jsonl: FastChat answer lines, turns R1_<id>, R2_<id>."""
    return [
        {
            "question_id": q,
            "answer_id": f"r{q}",
            "model_id": "gpt-4",
            "choices": [{"index": 0, "turns": [f"R1_{q}", f"R2_{q}"]}],
            "tstamp": 1.0,
        }
        for q in question_ids
    ]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_json(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2))
    return path


def judge_prompts() -> list[dict]:
    """judge_prompts.jsonl records: the four single and four pairwise templates."""
    single = [
        {
            "name": n,
            "type": "single",
            "system_prompt": s,
            "prompt_template": t,
            "description": "d",
            "category": "math" if "math" in n else "general",
            "output_format": "[[rating]]",
        }
        for n, (s, t) in TEMPLATES.items()
    ]
    pair = [
        {
            "name": n,
            "type": "pairwise",
            "system_prompt": s,
            "prompt_template": t,
            "description": "d",
            "category": "general",
            "output_format": "[[A]]",
        }
        for n, (s, t) in PAIR_TEMPLATES.items()
    ]
    return single + pair


def write_alpaca_eval(directory: Path, rows=BASELINE) -> Path:
    """`<directory>/alpaca_eval_gpt4_baseline.json`; returns the file."""
    return write_json(Path(directory) / BASELINE_FILE, list(rows))


def write_mt_bench(directory: Path, questions=QUESTIONS, refs=None) -> Path:
    """`<directory>/mt_bench/{question.jsonl, reference_answer/gpt-4.jsonl}` and
    `<directory>/judge_prompts.jsonl`; returns the mt_bench folder (FastChat's data/mt_bench)."""
    root = Path(directory) / "mt_bench"
    write_jsonl(root / "question.jsonl", questions)
    write_jsonl(root / "reference_answer" / "gpt-4.jsonl", references() if refs is None else refs)
    write_jsonl(root.parent / "judge_prompts.jsonl", judge_prompts())
    return root
