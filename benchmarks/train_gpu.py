"""GPU training-step benchmark: our trainer's step beside a plain reference step.

    python -m benchmarks.train_gpu [--preset 1b|tiny] [--device auto|cuda|cpu] [--compile]

`--device auto` (the default, `make bench-train`) runs on CUDA when a device is present and
otherwise prints "no CUDA device: skipped". `--device cpu --preset tiny --same-process` is the
smoke mode of tests/benchmarks/test_train_gpu_smoke.py: the same code, meaningless numbers.

Model: Llama-shaped, random init from `LlamaConfig` on the device (no download). Preset `1b`
has Llama-3.2-1B's shape: hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192,
Llama-3's vocabulary of 128256, tied embeddings (1.24e9 parameters).

Workloads (`WORKLOADS`), the same initial weights and data in one run:
- plain: bf16 weights; HF forward over B x k rows of exactly T = `seq` tokens (prompt + response
  fill every row, no padding), full logits -> float32 log_softmax -> gather the response tokens
  -> sum -> backward -> AdamW (`training.logprobs.naive_sequence_logps`);
- ours_mixed: the trainer's step on the same batch: `PolicyLogps` (chunked log-probs,
  `TrainConfig.logprob_chunk` rows), the registered AMPO loss, gradient clipping, AdamW, under
  the trainer's precision policy `bf16-mixed` (float32 master weights, bf16 autocast);
- ours_bf16: the same with bf16 weights and no autocast, like-for-like with `plain`;
- ragged_padded, ragged_prefix_shared: ours_mixed on ragged groups (`benchmarks.train.make_groups`,
  log-normal lengths) in the two layouts of `training.batching`.
AdamW's hyperparameters are `TrainConfig`'s for all. `--compile` compiles in place the module the
step calls: the whole causal LM for plain, the decoder for ours (its head runs in checkpointed
chunks, eager).

FLOPs of a step and MFU (`benchmarks.mfu`, where each term is derived):

    F = 6 N_dec P  +  6 d V P_head  +  6 L d_attn R T (T + 1)

N_dec = L (2 d d_attn + 2 d d_kv + 3 d f) decoder matmul weights, P = R x T positions through the
decoder (padding included), P_head = positions whose logits are computed (P for plain, the
response-token predictions for ours), attention over each row's causal triangle; recomputation
is not counted. MFU = F / median step time / ceiling, against the bf16 GEMM rate measured in the
same run and against the datasheet dense bf16 peak (none for an unknown device). Useful tokens/s
= prompt + response tokens of every (prompt, response) pair (`Batch.n_pair_tokens`) / median step
time; on the fixed-length batch it is P / step time.

Timing: every workload (and the GEMM) in a fresh child process, one after another
(`--same-process`: all in this one, after gc and empty_cache); `--warmup` steps, then `--repeats`
steps each timed with CUDA events (perf_counter on CPU): median, minimum, all. Memory, in the same
process, one more step after the timed ones: `torch.cuda.max_memory_allocated` after
`reset_peak_memory_stats` (peak_mib: weights and optimizer state included) and that peak above
`memory_allocated` at the step's start (peak_step_mib: activations, logits, gradients, optimizer
temporaries); on CPU only the latter, from the resident set (`benchmarks.train.peak_memory_of`).

Targets, reported with pass flags and never asserted: MFU >= 0.55 (ours); peak memory ours /
plain <= 0.6; useful tokens/s prefix-shared / padded >= 1.3 (`TARGETS`). Result:
benchmarks/results/train-<device kind>-<preset>[-compile].json, with machine and provenance.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import re
import statistics
import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from benchmarks.mfu import (
    FLOP_FORMULA,
    Arch,
    datasheet_tflops,
    gemm_ceiling,
    step_flops,
    time_calls,
)
from benchmarks.train import PAD_ID, child, make_groups, peak_memory_of
from selection.provenance import machine, provenance, write_json
from training import trainer
from training.batching import LAYOUTS, PADDED, PREFIX_SHARED
from training.config import TrainConfig
from training.logprobs import naive_sequence_logps, verify_head
from training.losses import get_loss

RESULTS = Path(__file__).parent / "results"
MODULE = "benchmarks.train_gpu"


@dataclass(frozen=True)
class Preset:
    arch: Arch
    prompts: int  # B of the fixed-length batch
    k: int  # responses per prompt
    seq: int  # T: prompt + response of every fixed-length row; max_length of the ragged groups
    prompt_len: int  # prompt tokens of every fixed-length row
    ragged_prompts: int  # B of the ragged groups
    prompt_median: float  # ragged prompt tokens (log-normal median)
    response_median: float  # ragged response tokens
    gemm_n: int  # the ceiling's n x n x n matrix product
    warmup: int
    repeats: int


PRESETS = {
    "1b": Preset(
        Arch(hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8, vocab=128256),
        prompts=1,
        k=8,
        seq=1024,
        prompt_len=256,
        ragged_prompts=2,
        prompt_median=128,
        response_median=256,
        gemm_n=8192,
        warmup=3,
        repeats=10,
    ),
    "tiny": Preset(
        Arch(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, vocab=512),
        prompts=1,
        k=4,
        seq=64,
        prompt_len=16,
        ragged_prompts=2,
        prompt_median=4,
        response_median=8,
        gemm_n=256,
        warmup=1,
        repeats=3,
    ),
}

# precision name -> (parameter dtype, autocast dtype or None); "bf16-mixed" is the trainer's
PRECISIONS = {"bf16": (torch.bfloat16, None), "bf16-mixed": trainer.PRECISIONS["bf16-mixed"]}


@dataclass(frozen=True)
class Workload:
    data: str  # "fixed" (every row prompt + response = T) or "ragged"
    layout: str  # a key of training.batching.LAYOUTS
    step: str  # "plain" (full logits) or "ours" (the trainer's step)
    precision: str  # a key of PRECISIONS


WORKLOADS = {
    "plain": Workload("fixed", PADDED, "plain", "bf16"),
    "ours_mixed": Workload("fixed", PADDED, "ours", "bf16-mixed"),
    "ours_bf16": Workload("fixed", PADDED, "ours", "bf16"),
    "ragged_padded": Workload("ragged", PADDED, "ours", "bf16-mixed"),
    "ragged_prefix_shared": Workload("ragged", PREFIX_SHARED, "ours", "bf16-mixed"),
}
AT_LEAST, AT_MOST = "at_least", "at_most"
# (name, workload, row key, threshold, AT_LEAST or AT_MOST): the targets
TARGETS = (
    ("mfu_measured >= 0.55", "ours_mixed", "mfu_measured", 0.55, AT_LEAST),
    ("mfu_measured >= 0.55", "ours_bf16", "mfu_measured", 0.55, AT_LEAST),
    ("mfu_datasheet >= 0.55", "ours_mixed", "mfu_datasheet", 0.55, AT_LEAST),
    ("mfu_datasheet >= 0.55", "ours_bf16", "mfu_datasheet", 0.55, AT_LEAST),
    ("peak memory / plain <= 0.6", "ours_mixed", "peak_memory_vs_plain", 0.6, AT_MOST),
    ("peak memory / plain <= 0.6", "ours_bf16", "peak_memory_vs_plain", 0.6, AT_MOST),
    ("useful tokens/s / padded >= 1.3", "ragged_prefix_shared", "speedup_vs_padded", 1.3, AT_LEAST),
)


# -- model, data, step ---------------------------------------------------------------------------


def build_model(arch: Arch, seq: int, device: torch.device, dtype: torch.dtype, seed: int):
    """A random-initialised LlamaForCausalLM, built on `device` (the same weights per seed)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=arch.vocab,
        hidden_size=arch.hidden,
        intermediate_size=arch.intermediate,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.kv_heads,
        max_position_embeddings=seq,
        tie_word_embeddings=arch.tie_embeddings,
        pad_token_id=PAD_ID,
        use_cache=False,
    )
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(dtype)
    model.set_attn_implementation("sdpa")
    return model.train()


def make_batch(preset: Preset, w: Workload, device, dtype, seed: int):
    """The workload's groups laid out in its layout, on the device."""
    if w.data == "fixed":
        import numpy as np

        rng = np.random.default_rng(seed)
        vocab, n_response = preset.arch.vocab, preset.seq - preset.prompt_len

        def tokens(n):
            return rng.integers(PAD_ID + 1, vocab, n).tolist()

        prompts = [tokens(preset.prompt_len) for _ in range(preset.prompts)]
        responses = [[tokens(n_response) for _ in range(preset.k)] for _ in prompts]
    else:
        prompts, responses = make_groups(
            preset.ragged_prompts,
            preset.k,
            preset.arch.vocab,
            seed,
            preset.prompt_median,
            preset.response_median,
        )
    extra = {"dtype": dtype} if w.layout == PREFIX_SHARED else {}
    batch = LAYOUTS[w.layout](prompts, responses, pad_id=PAD_ID, max_length=preset.seq, **extra)
    return batch.to(device, dtype)


def make_step(w: Workload, model, batch, cfg: TrainConfig, seed: int):
    """One optimizer step (a closure returning the detached loss), as the trainer's loop does
    it for `ours`: forward and backward under autocast, clip, AdamW step, grads set to None."""
    _, autocast_dtype = PRECISIONS[w.precision]
    device = batch.input_ids.device
    autocast = torch.autocast(device.type, autocast_dtype) if autocast_dtype else nullcontext()
    if w.step == "plain":

        def loss_fn():
            return naive_sequence_logps(model, batch)[0].sum()
    else:
        engine = trainer.PolicyLogps(model, cfg.logprob_chunk)
        entry = get_loss(cfg.loss)
        loss_cfg = entry.config(**cfg.loss_options)
        g = torch.Generator().manual_seed(seed)
        rewards = torch.randn(batch.shape, generator=g).to(device)
        positive = rewards.masked_fill(~batch.mask, -math.inf).argmax(1)

        def loss_fn():
            logps, lengths = engine(batch)  # (B, k) each
            per_prompt, _ = entry(logps, None, lengths, rewards, batch.mask, positive, loss_cfg)
            return per_prompt.sum()

    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=tuple(cfg.adam_betas),
        eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay,
    )

    def step():
        with autocast:
            loss = loss_fn()
            loss.backward()
        if w.step == "ours":
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


# -- the workers: what one child process measures ------------------------------------------------


def run_workload(name: str, preset: Preset, device: torch.device, compile_: bool, seed: int):
    """Build, warm up, time and measure the peak memory of one workload (a result row)."""
    w, cfg, cuda = WORKLOADS[name], TrainConfig(), device.type == "cuda"
    param_dtype, _ = PRECISIONS[w.precision]
    model = build_model(preset.arch, preset.seq, device, param_dtype, seed)
    verify_head(model)  # before compiling: its short probe would make the shapes dynamic
    if compile_:
        (model if w.step == "plain" else model.get_decoder()).compile()
    batch = make_batch(preset, w, device, param_dtype, seed)
    step = make_step(w, model, batch, cfg, seed)
    time_calls(step, preset.warmup, cuda)
    times, loss = time_calls(step, preset.repeats, cuda)
    start = torch.cuda.memory_allocated() if cuda else None
    peak_step = peak_memory_of(step, cuda)
    peak = torch.cuda.max_memory_allocated() if cuda else None
    rows, width = batch.input_ids.shape
    head_positions = rows * width if w.step == "plain" else batch.target.numel()
    median = statistics.median(times)
    mib = 2**20
    return {
        "workload": name,
        **asdict(w),
        "parameters": sum(p.numel() for p in model.parameters()),
        "rows": rows,
        "width": width,
        "positions": rows * width,
        "head_positions": head_positions,
        "n_pair_tokens": batch.n_pair_tokens,
        "n_response_tokens": batch.target.numel(),
        "padding_fraction": batch.padding_fraction,
        "n_truncated": batch.n_truncated,
        "flops_per_step": step_flops(preset.arch, rows, width, head_positions),
        "step_s": median,
        "step_s_min": min(times),
        "step_s_all": times,
        "useful_tokens_per_s": batch.n_pair_tokens / median,
        "positions_per_s": rows * width / median,
        "loss": float(loss),
        "start_mib": None if start is None else start / mib,
        "peak_mib": None if peak is None else peak / mib,
        "peak_step_mib": peak_step / mib,
    }


def work(worker: str, preset: Preset, device: torch.device, compile_: bool, seed: int):
    """One worker's result, in this process; the memory of the last one is released after."""
    try:
        if worker == "ceiling":
            return gemm_ceiling(preset.gemm_n, device)
        return run_workload(worker, preset, device, compile_, seed)
    finally:
        if compile_:
            torch._dynamo.reset()  # the next workload compiles afresh (no dynamic shapes)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


# -- report --------------------------------------------------------------------------------------


def device_kind(device: torch.device, device_name: str) -> str:
    """The result file's device kind: cpu, cuda-h100 for a known device, else cuda-<name>."""
    if device.type != "cuda":
        return "cpu"
    key, _ = datasheet_tflops(device_name)
    model = key.split()[0] if key else device_name.removeprefix("NVIDIA ")
    return "cuda-" + re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def add_ratios(rows: dict[str, dict], ceiling: float, datasheet: float | None, cuda: bool):
    """MFU of every row; ours vs plain and prefix-shared vs padded, in place."""
    memory = "peak_mib" if cuda else "peak_step_mib"  # CPU: no absolute peak
    for row in rows.values():
        if "error" in row:
            continue
        achieved = row["flops_per_step"] / row["step_s"] / 1e12
        row["tflops"] = achieved
        row["mfu_measured"] = achieved / ceiling
        row["mfu_datasheet"] = _ratio(achieved, datasheet)
    plain = rows.get("plain", {})
    for name in ("ours_mixed", "ours_bf16"):
        row = rows.get(name, {})
        row["speedup_vs_plain"] = _ratio(plain.get("step_s"), row.get("step_s"))
        row["peak_memory_vs_plain"] = _ratio(row.get(memory), plain.get(memory))
        row["peak_step_memory_vs_plain"] = _ratio(
            row.get("peak_step_mib"), plain.get("peak_step_mib")
        )
    padded, shared = rows.get("ragged_padded", {}), rows.get("ragged_prefix_shared", {})
    shared["speedup_vs_padded"] = _ratio(
        shared.get("useful_tokens_per_s"), padded.get("useful_tokens_per_s")
    )
    shared["peak_memory_vs_padded"] = _ratio(shared.get(memory), padded.get(memory))
    return memory


def targets(rows: dict[str, dict]) -> list[dict]:
    """Each of TARGETS with its value and a pass flag (None where the value is missing)."""
    out = []
    for name, workload, key, threshold, bound in TARGETS:
        value = rows.get(workload, {}).get(key)
        met = None
        if value is not None:
            met = value >= threshold if bound == AT_LEAST else value <= threshold
        row = {"target": name, "workload": workload, "value": value, "threshold": threshold}
        out.append(row | {"pass": met})
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--preset", choices=tuple(PRESETS), default="1b")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--prompts", type=int, default=None, help="B of the fixed-length batch")
    parser.add_argument("--ragged-prompts", type=int, default=None, help="B of the ragged groups")
    parser.add_argument("--warmup", type=int, default=None, help="default: the preset's")
    parser.add_argument("--repeats", type=int, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--same-process", action="store_true", help="all workloads in this process (smoke mode)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    # -- device and preset ------------------------------------------------------------------------
    if args.device == "auto":
        if not torch.cuda.is_available():
            print("no CUDA device: skipped")
            return {}
        args.device = "cuda"
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is present")
    device = torch.device(args.device)
    overrides = {
        "prompts": args.prompts,
        "ragged_prompts": args.ragged_prompts,
        "warmup": args.warmup,
        "repeats": args.repeats,
    }
    preset = replace(PRESETS[args.preset], **{k: v for k, v in overrides.items() if v is not None})
    args.argv = [*(sys.argv[1:] if argv is None else argv), "--device", args.device]

    if args.worker:  # a child: its result as the last line of stdout
        print(json.dumps(work(args.worker, preset, device, args.compile, args.seed)))
        return {}

    # -- the ceiling, then each workload ------------------------------------------------------------
    def measure(worker: str) -> dict:
        if args.same_process:
            return work(worker, preset, device, args.compile, args.seed)
        try:
            return child(args, worker, module=MODULE)
        except RuntimeError as error:  # e.g. out of memory: reported, the others still run
            print(f"{worker}: {str(error)[-600:]}", file=sys.stderr)
            return {"workload": worker, "error": str(error)[-4000:]}

    ceiling = measure("ceiling")
    rows = {name: measure(name) for name in WORKLOADS}

    # -- report -----------------------------------------------------------------------------------
    cuda = device.type == "cuda"
    device_name = torch.cuda.get_device_name(device) if cuda else machine()["cpu"] or "cpu"
    model_key, datasheet = datasheet_tflops(device_name) if cuda else (None, None)
    memory = add_ratios(rows, ceiling["tflops"], datasheet, cuda)
    config = {k: v for k, v in vars(args).items() if k not in ("argv", "worker")}
    report = {
        "benchmark": "train_gpu",
        "device": args.device,
        "device_name": device_name,
        "device_kind": device_kind(device, device_name),
        "preset": args.preset,
        "preset_config": asdict(preset),
        "compile": args.compile,
        "parameters": preset.arch.parameters(),
        "decoder_matmul_parameters": preset.arch.decoder_matmul_params(),
        "flop_formula": FLOP_FORMULA,
        "ceiling": ceiling | {"datasheet_model": model_key, "datasheet_tflops": datasheet},
        "isolation": "same process, after gc + empty_cache"
        if args.same_process
        else "a fresh child process per workload, one after another",
        "memory_measure": "cuda max_memory_allocated over one step after reset_peak_memory_stats "
        "(peak_mib); minus memory_allocated at its start (peak_step_mib)"
        if cuda
        else "peak RSS above RSS at the step's start (peak_step_mib); no absolute peak",
        "memory_ratio_measure": memory,
        "rows": list(rows.values()),
        "targets": targets(rows),
        "machine": machine(),
        **provenance(config | {"out": str(args.out)}, seed=args.seed),
    }
    name = f"train-{report['device_kind']}-{args.preset}{'-compile' if args.compile else ''}"
    path = write_json(args.out / f"{name}.json", report)
    _print(report)
    print(f"wrote {path}")
    return report


def _print(report: dict) -> None:
    c = report["ceiling"]
    print(
        f"{report['device_name']}: {report['parameters']:,} parameters, preset "
        f"{report['preset']}, compile={report['compile']}; bf16 GEMM {c['tflops']:.4g} TFLOP/s "
        f"measured, {c['datasheet_tflops']} datasheet"
    )
    print(
        f"{'workload':22s} {'step s':>8s} {'tokens/s':>10s} {'TFLOP/s':>8s} {'MFU':>6s} "
        f"{'MFU ds':>6s} {'peak MiB':>9s} {'step MiB':>9s}"
    )
    for r in report["rows"]:
        if "error" in r:
            print(f"{r['workload']:22s} failed: {r['error'].splitlines()[-1][:60]}")
            continue
        ds = "-" if r["mfu_datasheet"] is None else f"{r['mfu_datasheet']:.3f}"
        peak = "-" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}"
        print(
            f"{r['workload']:22s} {r['step_s']:8.4f} {r['useful_tokens_per_s']:10.0f} "
            f"{r['tflops']:8.2f} {r['mfu_measured']:6.3f} {ds:>6s} {peak:>9s} "
            f"{r['peak_step_mib']:9.1f}"
        )
    for t in report["targets"]:
        value = "-" if t["value"] is None else f"{t['value']:.3f}"
        print(f"{t['target']:34s} {t['workload']:22s} {value:>7s} pass={t['pass']}")


if __name__ == "__main__":
    main()
