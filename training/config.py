"""The resolved configuration of a run: one frozen dataclass per stage, loaded from a YAML recipe.

A recipe is a small diff from these defaults. It may name a `base:` recipe it extends (a file
path or the name of a recipe shipped in `training/recipes/`), and command-line overrides
(`--train.lr 1e-6`, `--select.k 8`) apply last. Unknown sections or keys are errors that name
the recipe and the key; the fully resolved config is written beside every output.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

import yaml

from training.models import ModelSpec

RECIPES = Path(__file__).parent / "recipes"


@dataclass(frozen=True)
class DataConfig:
    prompts: str = ""  # prompts file (JSONL/JSON/Parquet) or a hub dataset name
    split: str = "train"  # the split when `prompts` is a hub dataset
    limit: int | None = None  # keep the first `limit` prompts (None: all)


@dataclass(frozen=True)
class GenerateConfig:
    backend: str = "auto"  # vllm when importable, else transformers; or "openai"
    n: int = 32  # samples per prompt [U: the released data suggest about 32]
    temperature: float = 0.8  # [S] AMPO samples at 0.8
    top_p: float = 1.0
    max_new_tokens: int = 1024
    batch_size: int = 64  # sequences per transformers generate call
    seed: int = 0
    options: dict = field(default_factory=dict)  # backend options (base_url, model, ...)


@dataclass(frozen=True)
class ScoreConfig:
    backend: str = "reward_model"  # or "function" (a reward function registered by name)
    model: str = ""  # reward model path/name, or the reward function's name
    batch_size: int = 16
    max_length: int = 4096
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EmbedConfig:
    backend: str = "sentence_transformers"  # or "policy" (mean-pooled policy hidden states)
    model: str = ""  # sentence-transformers path/name (ignored by "policy")
    batch_size: int = 64
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SelectConfig:
    strategy: str = "ampo_coreset"  # a key of selection.STRATEGIES
    k: int = 8  # [C for the data layout] 1 positive + 7 negatives
    seed: int = 0
    options: dict = field(default_factory=dict)  # the strategy's options


@dataclass(frozen=True)
class RefConfig:
    batch_size: int = 8  # groups per forward pass (truncation follows train.max_length)


@dataclass(frozen=True)
class ConvertConfig:
    """The `convert` stage: a released dataset as a pipeline file (`training.stages.convert`)."""

    format: str = ""  # ampo-pools, ampo-groups or ultrafeedback (`--from`)
    source: str = ""  # local file or hub dataset name (or `--in`)
    split: str = "train_prefs"  # the split of a hub dataset
    limit: int | None = None  # keep the first `limit` rows (None: all)


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "ampo"  # a key of training.losses.LOSSES
    loss_options: dict = field(default_factory=dict)  # fields of the loss's config dataclass
    lr: float = 1e-6
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    warmup_ratio: float = 0.1
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 2  # prompts (groups of k) per micro-batch and process
    grad_accum: int = 16
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0  # on every parameter (TRL exempts biases and norm weights)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    precision: str = "auto"  # auto: bf16-mixed on CUDA, fp32 on CPU; or fp32, bf16-mixed, fp64
    layout: str = "prefix_shared"  # or "padded"
    logprob_chunk: int = 1024  # rows of the lm_head computed at once
    max_length: int = 2048
    gradient_checkpointing: bool = False
    distributed: str = "ddp"  # under torchrun: "ddp" or "fsdp" (FSDP2 fully_shard)
    save_every: int = 0  # optimizer steps between checkpoints (0: only at the end)
    log_every: int = 1
    tensorboard: bool = False
    seed: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default)


@dataclass(frozen=True)
class Recipe:
    name: str = "defaults"
    run_dir: str = "runs/default"  # every stage's files live here
    model: ModelSpec = field(default_factory=lambda: ModelSpec("builtin:tiny-llama"))
    reference: ModelSpec | None = None  # None: the initial policy (`model`)
    data: DataConfig = field(default_factory=DataConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    ref_logps: RefConfig = field(default_factory=RefConfig)
    convert: ConvertConfig = field(default_factory=ConvertConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def reference_spec(self) -> ModelSpec:
        return self.reference if self.reference is not None else self.model

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# -- loading -------------------------------------------------------------------------------


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def _recipe_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    shipped = RECIPES / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise ValueError(
        f"recipe {name_or_path!r}: no such file and no shipped recipe of that name "
        f"(shipped: {', '.join(recipe_names())})"
    )


def _merge(base: dict, diff: dict) -> dict:
    out = dict(base)
    if "loss" in diff and diff["loss"] != base.get("loss"):
        out.pop("loss_options", None)  # another loss: the base's hyperparameters do not apply
    for key, value in diff.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "options":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _raw(name_or_path: str, seen: tuple[str, ...] = ()) -> dict:
    path = _recipe_path(name_or_path)
    if str(path) in seen:
        raise ValueError(f"recipe {path}: `base:` chain loops through {', '.join(seen)}")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"recipe {path}: expected a mapping at top level")
    base = raw.pop("base", None)
    raw.setdefault("name", path.stem)
    if base is None:
        return raw
    parent = _raw(base, (*seen, str(path)))
    parent.pop("name", None)
    return _merge(parent, raw)


def _build(cls, values: dict, where: str):
    """Instantiate dataclass `cls` from `values`, recursing into dataclass-typed fields."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {values!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for key, value in values.items():
        target = _dataclass_in(hints[key])
        if target is not None and isinstance(value, dict):
            value = _build(target, value, f"{where}.{key}")
        elif key == "adam_betas" and isinstance(value, list):
            value = tuple(value)
        else:
            value = _coerce(value, hints[key], f"{where}.{key}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


def _coerce(value, hint, where: str):
    """Numbers written as strings (YAML reads `1e-6` as text) become the field's number type."""
    kinds = {hint, *getattr(hint, "__args__", ())}
    if isinstance(value, str) and (float in kinds or int in kinds):
        try:
            return float(value) if float in kinds else int(value)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if isinstance(value, int) and not isinstance(value, bool) and float in kinds:
        return float(value)
    return value


def _dataclass_in(hint) -> type | None:
    for candidate in (hint, *getattr(hint, "__args__", ())):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def parse_overrides(pairs: list[str]) -> dict:
    """`["train.lr", "1e-6", "select.k", "4"]` or `["train.lr=1e-6"]` -> nested dict; values
    are parsed as YAML scalars (numbers, booleans, null, lists)."""
    out: dict = {}
    items = list(pairs)
    while items:
        token = items.pop(0)
        if not token.startswith("--"):
            raise ValueError(f"override {token!r}: expected --section.key value")
        key = token[2:]
        if "=" in key:
            key, text = key.split("=", 1)
        elif items:
            text = items.pop(0)
        else:
            raise ValueError(f"override --{key}: missing value")
        node = out
        *parents, leaf = key.replace("-", "_").split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return out


def _expand(value):
    """`{recipes}` in a string stands for the folder of the shipped recipes (their data)."""
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, str):
        return value.replace("{recipes}", str(RECIPES))
    return value


def load_recipe(name_or_path: str, overrides: dict | None = None) -> Recipe:
    """The resolved Recipe: defaults <- base recipes <- the recipe <- overrides."""
    raw = _expand(_merge(_raw(name_or_path), overrides or {}))
    return _build(Recipe, raw, f"recipe {name_or_path}")


# -- resuming ----------------------------------------------------------------------------------

# What `--resume` lets differ from the checkpoint's config. Resuming must continue the run that
# wrote the checkpoint: the same steps on the same data, so every field that decides the steps
# is fixed, max_steps and epochs included (they set the schedule's length, hence the warmup and
# the cosine, hence every step's lr; to train longer, start a new run whose model is the
# checkpoint). What may change is how the steps are computed, never which: the split of the global
# batch into micro-batches and processes (the global batch itself is checked apart), the layout,
# the head's chunking, activation checkpointing, DDP or FSDP2 (each held to the same trajectory
# by tests/training/test_trainer_invariants.py and test_trainer_distributed.py), the device and
# threads; and what does not enter training (logging and checkpoint cadence, TensorBoard, the
# recipe's name and run_dir, the other stages' sections).
RESUME_MAY_CHANGE = (
    "name",
    "run_dir",
    "data",
    "generate",
    "score",
    "embed",
    "select",
    "ref_logps",
    "model.device",
    "reference.device",
    "train.batch_size",
    "train.grad_accum",
    "train.layout",
    "train.logprob_chunk",
    "train.gradient_checkpointing",
    "train.distributed",
    "train.threads",
    "train.log_every",
    "train.save_every",
    "train.tensorboard",
)


def _fields(recipe: Recipe) -> dict:
    """Dotted field name -> value, one level into each section (`train.lr`, `model.device`)."""
    out = {}
    for f in dataclasses.fields(recipe):
        value = getattr(recipe, f.name)
        if dataclasses.is_dataclass(value):
            out |= {f"{f.name}.{g.name}": getattr(value, g.name) for g in dataclasses.fields(value)}
        else:
            out[f.name] = value
    return out


def resume_differences(saved: Recipe, now: Recipe) -> list[str]:
    """`name: saved -> now` for each field that differs and may not (RESUME_MAY_CHANGE)."""
    a, b = _fields(saved), _fields(now)
    free = lambda key: key in RESUME_MAY_CHANGE or key.split(".")[0] in RESUME_MAY_CHANGE  # noqa: E731
    return [
        f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
        for key in sorted(a.keys() | b.keys())
        if not free(key) and a.get(key) != b.get(key)
    ]


def recipe_from_dict(values: dict) -> Recipe:
    """The inverse of `Recipe.to_dict` (used to restore the config saved in a checkpoint)."""
    return _build(Recipe, values, "config")
