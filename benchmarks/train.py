"""Training-step benchmark: batch layout (padded vs prefix-shared) x head (naive vs chunked).

    python -m benchmarks.train [--prompts B] [--k 8] [--vocab V] [--device cpu|cuda]

One step is the forward and backward of the summed sequence log-probs of B prompts x k responses
(`training.logprobs`), on a random-initialised Llama-shaped model (hidden 256, 4 layers, a 32k
vocabulary by default: float32 on CPU, bfloat16 on CUDA) and ragged groups whose lengths are drawn
from long-tailed (log-normal) distributions, prompts shorter than responses as in UltraFeedback.
The four combinations run in one invocation, on the same batch, in fresh child processes:

- time, in one child: --warmup steps of each, then --repeats rounds timing each combination
  once per round (a change of load on a shared machine hits all four alike). Reported: the
  median wall time per step, its minimum, and the median process CPU time over all threads
  (on a shared machine, --threads 1 keeps the CPU time free of OpenMP spin-waiting); useful
  tokens/s = real tokens of every (prompt, response) pair, prompt + response
  (`Batch.n_pair_tokens`, the same for both layouts) / median wall time;
- peak memory, in a fresh child per combination: on CPU, the peak resident set size during
  the step after one warm-up step, above the resident size just before (Linux
  /proc/self/status VmHWM, reset through /proc/self/clear_refs; that child runs with
  MALLOC_MMAP_THRESHOLD_=65536 so that freed tensors leave the resident set at once and the
  peak of one step is not hidden by memory glibc kept from the warm-up); on CUDA, torch.cuda.max_memory_allocated above memory_allocated
  before the step. Parameters, gradients of the previous step (set to None) and the batch are
  not counted; activations, logits and the new gradients are.

Ratios (prefix-shared over padded, chunked over naive) are printed and written with the machine
and provenance to benchmarks/results/train-<device>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from selection.provenance import machine, provenance, write_json

RESULTS = Path(__file__).parent / "results"
LAYOUTS = ("padded", "prefix_shared")
HEADS = ("naive", "chunked")
PAD_ID = 0


def make_groups(
    b: int, k: int, vocab: int, seed: int, prompt_median: float, response_median: float
):
    """B prompts x k responses of random token ids, log-normal lengths (sigma 0.6 prompts, 0.8
    responses), clipped to [8, 8 x median]. Returns (prompt_ids, response_ids)."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def lengths(median, sigma, n):
        return np.clip(rng.lognormal(np.log(median), sigma, n), 8, 8 * median).astype(int)

    def tokens(n):
        return rng.integers(PAD_ID + 1, vocab, n).tolist()

    prompts = [tokens(n) for n in lengths(prompt_median, 0.6, b)]
    responses = [[tokens(n) for n in lengths(response_median, 0.8, k)] for _ in range(b)]
    return prompts, responses


def build_model(args):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=8192,
        pad_token_id=PAD_ID,
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(config)
    cuda = args.device.startswith("cuda")
    model = model.to(args.device, torch.bfloat16 if cuda else torch.float32)
    model.set_attn_implementation("sdpa")
    return model.train()


def _setup(args):
    """The model, both packed batches (on the device) and the packing times."""
    from training.batching import pack_padded, pack_prefix_shared
    from training.logprobs import verify_head

    model = build_model(args)
    verify_head(model)
    prompts, responses = make_groups(
        args.prompts, args.k, args.vocab, args.seed, args.prompt_median, args.response_median
    )
    packers = {
        "padded": lambda: pack_padded(
            prompts, responses, pad_id=PAD_ID, max_length=args.max_length
        ),
        "prefix_shared": lambda: pack_prefix_shared(
            prompts, responses, pad_id=PAD_ID, max_length=args.max_length, dtype=model.dtype
        ),
    }
    batches, pack_s = {}, {}
    for layout, pack in packers.items():
        start = time.perf_counter()
        batches[layout] = pack()
        pack_s[layout] = time.perf_counter() - start
        batches[layout] = batches[layout].to(args.device, model.dtype)
    return model, batches, pack_s


def _step(args, model, batch, head: str):
    """One forward + backward of the summed log-probs (a closure)."""
    import torch

    from training.logprobs import naive_sequence_logps, sequence_logps

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def step():
        model.zero_grad(set_to_none=True)
        if head == "naive":
            logps, _ = naive_sequence_logps(model, batch)
        else:
            logps, _ = sequence_logps(model, batch, chunk_size=args.chunk_size)
        logps.sum().backward()
        sync()

    return step


def time_all(args) -> list[dict]:
    """In one child: warm up every combination, then time them round-robin (repeat r of each
    before repeat r + 1 of any), so a change of load on a shared machine hits all alike. Wall
    time and process CPU time (all threads) per step."""
    model, batches, pack_s = _setup(args)
    combos = [(layout, head) for layout in LAYOUTS for head in HEADS]
    steps = {c: _step(args, model, batches[c[0]], c[1]) for c in combos}
    for combo in combos:
        for _ in range(args.warmup):
            steps[combo]()
    wall = {c: [] for c in combos}
    cpu = {c: [] for c in combos}
    for _ in range(args.repeats):
        for combo in combos:
            start, start_cpu = time.perf_counter(), time.process_time()
            steps[combo]()
            wall[combo].append(time.perf_counter() - start)
            cpu[combo].append(time.process_time() - start_cpu)
    rows = []
    for layout, head in combos:
        batch, median = batches[layout], statistics.median(wall[layout, head])
        rows.append(
            {
                "layout": layout,
                "head": head,
                "step_s": median,
                "step_s_all": wall[layout, head],
                "step_s_min": min(wall[layout, head]),
                "cpu_s": statistics.median(cpu[layout, head]),
                "pack_s": pack_s[layout],
                "useful_tokens_per_s": batch.n_pair_tokens / median,
                "rows": batch.input_ids.shape[0],
                "width": batch.input_ids.shape[1],
                "n_tokens": batch.n_tokens,
                "n_slots": batch.n_slots,
                "n_pair_tokens": batch.n_pair_tokens,
                "n_response_tokens": batch.target.numel(),
                "padding_fraction": batch.padding_fraction,
                "n_truncated": batch.n_truncated,
            }
        )
    return rows


def measure_memory(args, layout: str, head: str) -> dict:
    """In a fresh child: the peak memory of one step, after one warm-up step."""
    model, batches, _ = _setup(args)
    step = _step(args, model, batches[layout], head)
    step()
    model.zero_grad(set_to_none=True)
    return {"peak_mib": peak_memory_of(step, args.device.startswith("cuda")) / 2**20}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_of(fn, cuda: bool) -> int:
    """Bytes: the peak of one call of fn above what was held just before (module docstring)."""
    import gc

    import torch

    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        return torch.cuda.max_memory_allocated() - before
    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def child(args, worker: str, module: str = "benchmarks.train"):
    """Run `python -m module ... --worker worker` (here `time` or `memory:<layout>:<head>`) in
    a fresh interpreter (clean allocator, own peak); its JSON result is its last line of output.
    Memory is measured with glibc's mmap threshold fixed (module docstring), time without: a
    fixed threshold turns every tensor over 64 KiB into fresh pages and inflates the time."""
    env = dict(os.environ)
    if worker.startswith("memory"):
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    argv = [sys.executable, "-m", module, *args.argv, "--worker", worker]
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(argv, env=env, cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{worker} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratios(rows: list[dict]) -> dict:
    """Speed-up (useful tokens/s) and memory ratios between the four combinations."""
    by = {(r["layout"], r["head"]): r for r in rows}

    def compare(a, b):  # a over b
        return {
            "speedup": by[a]["useful_tokens_per_s"] / by[b]["useful_tokens_per_s"],
            "speedup_cpu_time": by[b]["cpu_s"] / by[a]["cpu_s"],
            "speedup_min_wall": by[b]["step_s_min"] / by[a]["step_s_min"],
            "peak_memory_ratio": by[a]["peak_mib"] / by[b]["peak_mib"],
        }

    out = {}
    for head in HEADS:
        out[f"prefix_shared_vs_padded[{head}]"] = compare(("prefix_shared", head), ("padded", head))
    for layout in LAYOUTS:
        out[f"chunked_vs_naive[{layout}]"] = compare((layout, "chunked"), (layout, "naive"))
    out["prefix_shared_chunked_vs_padded_naive"] = compare(
        ("prefix_shared", "chunked"), ("padded", "naive")
    )
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train", description=__doc__)
    parser.add_argument(
        "--prompts",
        type=int,
        default=None,
        help="B prompts per batch (default 2 on CPU, 16 on CUDA)",
    )
    parser.add_argument("--k", type=int, default=8, help="responses per prompt")
    parser.add_argument("--prompt-median", type=float, default=64, help="median prompt tokens")
    parser.add_argument("--response-median", type=float, default=128, help="median response tokens")
    parser.add_argument("--max-length", type=int, default=1024, help="prompt + response bound")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=704)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32000, help="Llama 2 / Mistral size")
    parser.add_argument("--chunk-size", type=int, default=512, help="rows per logits chunk")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (float32) or cuda (bfloat16)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.prompts is None:
        args.prompts = 16 if args.device.startswith("cuda") else 2

    # A child: one combination, its result as the last line of stdout.
    if args.worker:
        if args.worker == "time":
            result = time_all(args)
        else:
            result = measure_memory(args, *args.worker.split(":")[1:])
        print(json.dumps(result))
        return {}

    # Phase 1: the four combinations timed together in one process, round-robin.
    load_before = os.getloadavg()
    rows = child(args, "time")

    # Phase 2: the peak memory of each, each in a fresh process.
    for row in rows:
        row |= child(args, f"memory:{row['layout']}:{row['head']}")

    # Phase 3: report.
    config = {k: v for k, v in vars(args).items() if k not in ("argv", "worker")}
    report = {
        "benchmark": "train",
        "machine": machine(),
        "memory_measure": (
            "torch.cuda.max_memory_allocated - memory_allocated before the step"
            if args.device.startswith("cuda")
            else "peak RSS (VmHWM after clear_refs) - RSS before the step, fresh process, "
            "MALLOC_MMAP_THRESHOLD_=65536"
        ),
        "load_average_1_5_15_min": {"before": load_before, "after": os.getloadavg()},
        "rows": rows,
        "ratios": ratios(rows),
        **provenance(config | {"out": str(args.out)}, seed=args.seed),
    }
    name = "cuda" if args.device.startswith("cuda") else "cpu"
    path = write_json(args.out / f"train-{name}.json", report)
    first = rows[0]
    print(
        f"B={args.prompts} k={args.k} V={args.vocab} H={args.hidden} L={args.layers} on "
        f"{report['machine']['cpu']} ({report['machine']['cpu_count']} cores), {args.device}; "
        f"{first['n_pair_tokens']} useful tokens, {first['n_response_tokens']} response tokens"
    )
    print(
        f"{'layout':14s} {'head':8s} {'step s':>7s} {'min s':>7s} {'cpu s':>7s} {'tokens/s':>9s} "
        f"{'peak MiB':>9s} {'pad %':>6s}"
    )
    for r in rows:
        print(
            f"{r['layout']:14s} {r['head']:8s} {r['step_s']:7.2f} {r['step_s_min']:7.2f} "
            f"{r['cpu_s']:7.2f} {r['useful_tokens_per_s']:9.0f} {r['peak_mib']:9.0f} "
            f"{100 * r['padding_fraction']:6.1f}"
        )
    for key, v in report["ratios"].items():
        print(
            f"{key:38s} speed-up x{v['speedup']:.2f} (cpu time x{v['speedup_cpu_time']:.2f})  "
            f"peak memory x{v['peak_memory_ratio']:.2f}"
        )
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
