"""The vLLM backend: an in-process `vllm.LLM`, one `SamplingParams` per prompt.

vLLM is imported only when the backend is constructed, so this module (and the registry) import
without it. Request building (`build_requests`) is a pure function of the tokenizer, the prompts
and the sampling settings, tested without vLLM.

Prompts go in as token ids (`{"prompt_token_ids": ...}`) rendered by the local tokenizer's chat
template exactly as the transformers backend, the trainer and the reference log-probs render
them (`training.chat.encode_prompt`), rather than through `llm.chat`: the tokens are then
identical across backends by construction, vLLM cannot add a second BOS in front of a template
that already holds one (it tokenises text prompts with special tokens), and `llm.generate` takes
one `SamplingParams` per prompt — the per-prompt request seed — in every vLLM >= 0.6.

Each prompt gets its request seed (see `training.generation.sampling`), so its texts depend on
(seed, prompt, sampling), not on the batch. Every knob that vLLM could fill from the checkpoint's
generation config (top_k, min_p, repetition_penalty) is set to its neutral value, so `Sampling`
alone shapes the distribution, as in the other backends. Temperature 0 is greedy: one sample is
drawn and repeated n times (older vLLM refuses n > 1 with greedy sampling).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from training.generation.base import Generator, Prompt, check_prompts, library_versions
from training.generation.sampling import Sampling, request_seeds

INSTALL_HINT = (
    "vllm backend: vLLM is not installed. Install it with `pip install ampo[vllm]` "
    "(Linux with a CUDA GPU), or use backend='transformers'."
)


@dataclass(frozen=True)
class VLLMRequest:
    """One prompt's request: what `llm.generate` gets, and how many copies of each sample."""

    prompt: dict  # {"prompt_token_ids": [...]}
    params: dict  # SamplingParams keyword arguments
    repeat: int  # n when greedy (one draw, repeated), else 1


def sampling_params_kwargs(sampling: Sampling, seed: int) -> dict:
    """Keyword arguments of `vllm.SamplingParams` for one prompt."""
    return {
        "n": 1 if sampling.greedy else sampling.n,
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "top_k": -1,  # off (vLLM may otherwise take the checkpoint's top_k)
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "max_tokens": sampling.max_new_tokens,
        "seed": seed,
        "stop": list(sampling.stop) if sampling.stop else None,
        "skip_special_tokens": True,
    }


def build_requests(
    tokenizer, prompts: Sequence[Prompt], sampling: Sampling, seeds: Sequence[int] | None = None
) -> list[VLLMRequest]:
    """One request per prompt, in order: template-rendered token ids, per-prompt seed."""
    from training.chat import encode, prompt_text

    texts = [prompt_text(tokenizer, p) for p in check_prompts(prompts)]
    seeds = request_seeds(sampling, texts, seeds)
    repeat = sampling.n if sampling.greedy else 1
    return [
        VLLMRequest(
            {"prompt_token_ids": encode(tokenizer, t)}, sampling_params_kwargs(sampling, s), repeat
        )
        for t, s in zip(texts, seeds, strict=True)
    ]


def import_vllm():
    try:
        import vllm
    except ImportError as error:
        raise ImportError(INSTALL_HINT) from error
    return vllm


class VLLMGenerator(Generator):
    name = "vllm"

    def __init__(
        self,
        spec,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        enforce_eager: bool = False,
    ):
        vllm = import_vllm()
        from training.models import load_tokenizer, resolve_path

        if spec is None:
            raise ValueError("vllm backend: needs a model spec")
        self.spec = spec
        self.tokenizer = load_tokenizer(spec)
        path = resolve_path(spec.name_or_path)
        self.options = {
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "enforce_eager": enforce_eager,
        }
        self.llm = vllm.LLM(
            model=os.path.join(path, spec.gguf_file) if spec.gguf_file else path,
            tokenizer=path,
            dtype=spec.dtype,  # "auto" lets vLLM pick, as ModelSpec's auto does
            trust_remote_code=spec.trust_remote_code,
            **self.options,
        )
        self._params = vllm.SamplingParams

    def generate(
        self, prompts: Sequence[Prompt], sampling: Sampling, seeds: Sequence[int] | None = None
    ) -> list[list[str]]:
        requests = build_requests(self.tokenizer, prompts, sampling, seeds)
        outputs = self.llm.generate(
            [r.prompt for r in requests],
            [self._params(**r.params) for r in requests],
            use_tqdm=False,
        )
        return [
            [o.text for o in sorted(out.outputs, key=lambda o: o.index)] * r.repeat
            for r, out in zip(requests, outputs, strict=True)
        ]

    def describe(self, sampling: Sampling | None = None) -> dict:
        return {
            "backend": self.name,
            "model": self.spec.name_or_path,
            "gguf_file": self.spec.gguf_file,
            "dtype": self.spec.dtype,
            **self.options,
            "sampling": sampling.to_dict() if sampling else None,
            "versions": library_versions("torch", "vllm", "transformers"),
        }

    def close(self) -> None:
        if getattr(self, "llm", None) is not None:
            self.llm = None
            import gc

            import torch

            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
