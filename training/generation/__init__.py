"""One generation interface, three backends: `make_generator(backend, spec).generate(prompts,
sampling) -> n texts per prompt`. See `base.py` for the contract, `sampling.py` for seeds."""

from training.generation.base import Completion, FinishReason, GenerationError, Generator
from training.generation.registry import AUTO, BACKENDS, backend_options, make_generator
from training.generation.sampling import Sampling

__all__ = [
    "AUTO",
    "BACKENDS",
    "Completion",
    "FinishReason",
    "GenerationError",
    "Generator",
    "Sampling",
    "backend_options",
    "make_generator",
]
