"""The judge backends: name -> factory(**options) -> Judge. CLI choices and errors derive from
`JUDGES`' keys."""

from __future__ import annotations

from collections.abc import Callable

from evaluation.judge.base import Judge
from evaluation.judge.openai_judge import OpenAIJudge
from evaluation.judge.transformers_judge import TransformersJudge

JUDGES: dict[str, Callable[..., Judge]] = {
    OpenAIJudge.name: OpenAIJudge,
    TransformersJudge.name: TransformersJudge.from_spec,
}


def make_judge(backend: str, **options) -> Judge:
    """`make_judge("openai", model=..., base_url=..., cache=...)` or
    `make_judge("transformers", spec=ModelSpec(...), cache=...)`."""
    if backend not in JUDGES:
        raise ValueError(f"judge: unknown backend {backend!r} (known: {', '.join(JUDGES)})")
    return JUDGES[backend](**options)
