"""The backend registry: name -> factory(spec, **options) -> Generator.

Config choices, CLI choices and error messages derive from `BACKENDS`' keys; `auto` picks vLLM
when it is importable and transformers otherwise.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable

from training.generation.base import Generator
from training.generation.openai_backend import OpenAIGenerator
from training.generation.transformers_backend import TransformersGenerator
from training.generation.vllm_backend import VLLMGenerator

AUTO = "auto"

BACKENDS: dict[str, Callable[..., Generator]] = {
    TransformersGenerator.name: TransformersGenerator.from_spec,
    OpenAIGenerator.name: OpenAIGenerator,
    VLLMGenerator.name: VLLMGenerator,
}


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[module] is None
        return False


def resolve_backend(backend: str) -> str:
    """A registry key: `auto` is vllm when importable, else transformers."""
    if backend == AUTO:
        return VLLMGenerator.name if _importable("vllm") else TransformersGenerator.name
    if backend not in BACKENDS:
        raise ValueError(
            f"generation: unknown backend {backend!r} (known: {', '.join([AUTO, *BACKENDS])})"
        )
    return backend


def backend_options(backend: str) -> list[str]:
    """The options a backend accepts (its factory's keyword-only parameters)."""
    params = inspect.signature(BACKENDS[resolve_backend(backend)]).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def make_generator(backend: str, spec=None, **options) -> Generator:
    """A generator of backend `backend` for model `spec` (a `training.models.ModelSpec`)."""
    name = resolve_backend(backend)
    unknown = sorted(set(options) - set(backend_options(name)))
    if unknown:
        raise TypeError(
            f"generation: backend {name!r} has no option(s) {', '.join(unknown)} "
            f"(it accepts: {', '.join(backend_options(name))})"
        )
    return BACKENDS[name](spec, **options)
