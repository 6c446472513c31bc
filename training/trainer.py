"""The trainer: groups of k responses -> a preference loss from the registry -> a HF checkpoint.

`train(recipe, groups, out)` reads top to bottom in labelled phases: processes and seeds; data;
model, optimizer and schedule; resume; the loop (learning rate, micro-steps, clip, step, log,
checkpoint, SIGTERM); the final checkpoint. One process, or several under `torchrun` /
`accelerate launch` with DDP or FSDP2 (`train.distributed`).

Normalisation: every micro-batch's summed per-prompt loss is divided by the groups per process
and step (B x accum); DDP and FSDP average gradients over processes, so the step's gradient is
that of the mean loss over the global batch, whatever the split into processes and micro-steps.

Resume (`resume=True`) continues the run that wrote the newest checkpoint, or refuses: the
config may differ only in `config.RESUME_MAY_CHANGE` (how the steps are computed, not which:
max_steps and epochs are fixed, as they set the lr schedule), the global batch and the groups
file (its sha256, kept in trainer_state.pt) must be the same. The continuation is the
uninterrupted run (bit-identical when nothing changed; tests/training/test_trainer_resume.py).
"""

from __future__ import annotations

import json
import math
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm.auto import tqdm

from selection.provenance import atomic_write_bytes, provenance
from training import checkpoint, distributed
from training.batching import LAYOUTS
from training.config import RESUME_MAY_CHANGE, Recipe, recipe_from_dict, resume_differences
from training.groupdata import Schedule, check_prompt_room, collate, tokenise_groups
from training.logprobs import sequence_logps
from training.losses import get_loss
from training.metrics_log import MetricsLog
from training.models import ModelSpec, load_model, load_tokenizer
from training.stagefile import read_records, sha256_file

PRECISIONS = {  # name -> (parameter dtype, autocast dtype or None)
    "fp32": (torch.float32, None),
    "fp64": (torch.float64, None),
    "bf16-mixed": (torch.float32, torch.bfloat16),
}


def lr_at(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the peak lr: linear warmup over `warmup` steps, then cosine to min_ratio."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# What a micro-step adds to the step's sums (all-reduced over processes before logging).
STEP_FIELDS = ("loss", "groups", "tokens", "slots", "truncated", "chosen", "rejected", "acc")


class _Stop:
    """Set by SIGTERM; the loop checkpoints and exits at the end of the current step."""

    requested = False

    def __call__(self, signum, frame):
        _Stop.requested = True


def _precision(name: str, device: torch.device) -> tuple[torch.dtype, torch.dtype | None]:
    if name == "auto":
        name = "bf16-mixed" if device.type == "cuda" else "fp32"
    if name not in PRECISIONS:
        raise ValueError(f"train.precision {name!r}: valid are auto, {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def train(recipe: Recipe, groups_path, out, resume: bool = False) -> Path:
    """Train the policy of `recipe` on the groups file; returns the final checkpoint folder."""
    cfg = recipe.train
    out = Path(out)

    # -- processes, devices, seeds -----------------------------------------------------------
    d = distributed.setup(recipe.model.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    param_dtype, autocast_dtype = _precision(cfg.precision, d.device)
    torch.manual_seed(cfg.seed)
    entry = get_loss(cfg.loss)
    loss_cfg = entry.config(**cfg.loss_options)
    if cfg.layout not in LAYOUTS:
        raise ValueError(f"train.layout {cfg.layout!r}: valid are {', '.join(LAYOUTS)}")

    # -- resume: the weights come from the newest checkpoint -------------------------------
    state = None
    model_spec = recipe.model
    global_batch = cfg.batch_size * cfg.grad_accum * d.world_size
    groups_sha256 = sha256_file(groups_path)
    if resume and (last := checkpoint.latest(out)) is not None:
        state = checkpoint.load_state(last)
        _check_resumable(state, recipe, global_batch, groups_sha256, last)
        model_spec = ModelSpec(str(last), dtype=recipe.model.dtype, device=recipe.model.device)

    # -- data --------------------------------------------------------------------------------
    tokenizer = load_tokenizer(recipe.model)
    records = list(read_records(groups_path, "group"))
    check_prompt_room(records, tokenizer, cfg.max_length, file=groups_path)
    if entry.needs_reference(loss_cfg):
        missing = [r.prompt_id for r in records if r.ref_logps is None]
        if missing:
            raise ValueError(
                f"{groups_path}: loss {cfg.loss} needs ref_logps, missing for prompt_id "
                f"{missing[0]!r} ({len(missing)} groups); run the ref-logps stage first"
            )
    groups = tokenise_groups(records, tokenizer)
    sched = Schedule(len(groups), cfg.batch_size, cfg.grad_accum, d.world_size, cfg.seed)
    total = cfg.max_steps or math.ceil(cfg.epochs * sched.steps_per_epoch)
    if total <= 0:
        sched.micro_batch(0, 0, 0)  # raises the "do not fill one global batch" error
    per_process = cfg.batch_size * cfg.grad_accum

    # -- model, optimizer, schedule ------------------------------------------------------------
    policy = load_model(
        ModelSpec(
            model_spec.name_or_path,
            gguf_file=model_spec.gguf_file if state is None else None,
            dtype=str(param_dtype).removeprefix("torch."),
            device=str(d.device),
            attn_implementation=model_spec.attn_implementation,
            trust_remote_code=model_spec.trust_remote_code,
        )
    )
    if cfg.gradient_checkpointing:
        _enable_activation_checkpointing(policy)
    policy.config.use_cache = False
    policy.train()
    # DDP and FSDP2 see one module whose forward is the whole log-prob computation.
    engine = distributed.wrap(
        PolicyLogps(policy, cfg.logprob_chunk), cfg.distributed, d, param_dtype=autocast_dtype
    )
    optimizer = torch.optim.AdamW(
        engine.parameters(),
        lr=cfg.lr,
        betas=tuple(cfg.adam_betas),
        eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay,
    )
    warmup = math.ceil(cfg.warmup_ratio * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_at(s, total, warmup, cfg.min_lr_ratio)
    )
    start = 0
    if state is not None:
        checkpoint.restore(state, engine, optimizer, scheduler)
        start = state["step"]
    metrics = None
    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
        metrics = MetricsLog(out, start, cfg.tensorboard)
        meta = provenance(recipe.to_dict(), cfg.seed) | {
            "groups": str(groups_path),
            "n_groups": len(groups),
            "global_batch": sched.global_batch,
            "total_steps": total,
            "world_size": d.world_size,
        }
        atomic_write_bytes(out / "train.meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    # what a checkpoint records besides the states: what --resume checks
    extra = {
        "config": recipe.to_dict(),
        "global_batch": global_batch,
        "groups_sha256": groups_sha256,
    }
    previous = signal.signal(signal.SIGTERM, _Stop())
    autocast = (
        torch.autocast(d.device.type, dtype=autocast_dtype) if autocast_dtype else nullcontext()
    )

    # -- the loop ----------------------------------------------------------------------------------
    bar = tqdm(range(start, total), desc="train", disable=not d.is_main, initial=start, total=total)
    stopped = False
    try:
        for step in bar:
            t0 = time.perf_counter()
            sums = torch.zeros(len(STEP_FIELDS), dtype=torch.float64)
            for micro in range(cfg.grad_accum):
                batch_groups = [groups[i] for i in sched.micro_batch(step, micro, d.rank)]
                col = collate(batch_groups)
                with distributed.gradient_sync(engine, micro == cfg.grad_accum - 1), autocast:
                    loss, stats = _micro_step(
                        engine, tokenizer, col, entry, loss_cfg, cfg, d, groups_path
                    )
                    (loss / per_process).backward()
                sums += stats
            norm = torch.nn.utils.clip_grad_norm_(engine.parameters(), cfg.max_grad_norm)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # FSDP2
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            # -- log ---------------------------------------------------------------------------
            sums = distributed.all_reduce_sum(sums.to(d.device)).cpu()
            elapsed = time.perf_counter() - t0
            if d.is_main and (step + 1) % cfg.log_every == 0:
                row = _row(step + 1, sums, grad_norm, lr, elapsed)
                metrics.write(row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['rewards/accuracies']:.2f}")

            # -- checkpoint, and stop on SIGTERM -------------------------------------------------
            stop = distributed.any_process(_Stop.requested, d.device)
            due = cfg.save_every and (step + 1) % cfg.save_every == 0
            if stop or (due and step + 1 < total):
                _save(out, step + 1, engine, policy, tokenizer, optimizer, scheduler, extra, d)
            if stop:
                stopped = True
                break
        if not stopped:
            _save(out, total, engine, policy, tokenizer, optimizer, scheduler, extra, d)
    finally:
        if metrics is not None:
            metrics.close()
        signal.signal(signal.SIGTERM, previous)
        _Stop.requested = False
        distributed.teardown()
    return checkpoint.latest(out)


class PolicyLogps(torch.nn.Module):
    """The policy with the sequence log-prob computation as its forward: what DDP/FSDP2 wrap,
    so their hooks see one forward and one backward per micro-batch."""

    def __init__(self, policy, chunk_size: int):
        super().__init__()
        self.policy = policy  # the name is checkpoint.ENGINE_PREFIX
        self.chunk_size = chunk_size

    def forward(self, batch):
        logps, lengths = sequence_logps(self.policy, batch, chunk_size=self.chunk_size)
        # not a view: FSDP2 hooks the output for its backward, and a view loses the hook
        # under an in-place op downstream
        return logps.clone(), lengths


def _micro_step(engine, tokenizer, col, entry, loss_cfg, cfg, d, groups_path):
    """Summed per-prompt loss of one micro-batch and its stats (a STEP_FIELDS vector)."""
    batch = LAYOUTS[cfg.layout](
        col.prompt_ids,
        col.response_ids,
        col.mask,
        tokenizer.pad_token_id,
        max_length=cfg.max_length,
    )
    device = d.device
    logps, lengths = engine(batch.to(device))  # (B, k) each
    if col.lengths is not None and not torch.equal(lengths.cpu().long(), col.lengths):
        row = int((lengths.cpu().long() != col.lengths).any(dim=1).nonzero()[0])
        raise ValueError(
            f"{groups_path}: prompt_id {col.prompt_id[row]!r}: recorded response lengths "
            f"{col.lengths[row][col.mask[row]].tolist()} differ from this tokenizer's "
            f"{lengths[row].cpu()[col.mask[row]].tolist()} (the ref-logps stage ran with another "
            "tokenizer or max_length)"
        )
    mask = col.mask.to(device)
    ref = None if col.ref_logps is None else col.ref_logps.to(device)
    per_prompt, metrics = entry(
        logps,
        ref,
        lengths.to(device),
        col.rewards.to(device),
        mask,
        col.positive.to(device),
        loss_cfg,
    )  # (B,)
    stats = torch.tensor(
        [
            float(per_prompt.detach().sum()),
            len(col.prompt_ids),
            batch.n_tokens,
            batch.n_slots,
            batch.n_truncated,
            float(metrics["rewards/chosen"].sum()),
            float(metrics["rewards/rejected"].sum()),
            float(metrics["rewards/accuracies"].sum()),
        ],
        dtype=torch.float64,
    )
    return per_prompt.sum(), stats


def _row(step: int, sums: torch.Tensor, grad_norm: float, lr: float, elapsed: float) -> dict:
    s = dict(zip(STEP_FIELDS, sums.tolist(), strict=True))
    n = s["groups"]
    return {
        "step": step,
        "loss": s["loss"] / n,
        "rewards/chosen": s["chosen"] / n,
        "rewards/rejected": s["rejected"] / n,
        "rewards/margins": (s["chosen"] - s["rejected"]) / n,
        "rewards/accuracies": s["acc"] / n,
        "grad_norm": grad_norm,
        "lr": lr,
        "tokens_per_s": s["tokens"] / elapsed,
        "padding_fraction": 1 - s["tokens"] / s["slots"],
        "truncated_responses": int(s["truncated"]),
    }


def _save(out, step, engine, policy, tokenizer, optimizer, scheduler, extra, d):
    checkpoint.save(out, step, engine, policy, tokenizer, optimizer, scheduler, extra, d)


def _check_resumable(state: dict, recipe: Recipe, global_batch: int, groups_sha256: str, last):
    """Refuse to resume anything but the run that wrote `last` (`config.RESUME_MAY_CHANGE`)."""
    problems = resume_differences(recipe_from_dict(state["config"]), recipe)
    if state.get("global_batch", global_batch) != global_batch:
        problems.append(
            f"global batch (batch_size x grad_accum x world size): {state['global_batch']} -> "
            f"{global_batch}"
        )
    if state.get("groups_sha256", groups_sha256) != groups_sha256:
        problems.append("groups file: another content (sha256) than the run was trained on")
    if problems:
        raise ValueError(
            f"--resume: {last} belongs to another run: {'; '.join(problems)}. Only "
            f"{', '.join(RESUME_MAY_CHANGE)} may change on resume (and the split of the global "
            "batch); to change more, start a new run from the checkpoint (model.name_or_path)"
        )


def _enable_activation_checkpointing(policy) -> None:
    """transformers >= 5.24 names it activation checkpointing (the old name warns)."""
    kwargs = {"use_reentrant": False}
    if hasattr(policy, "activation_checkpointing_enable"):
        policy.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
