"""Selection benchmark: batched strategies vs the obvious per-prompt scikit-learn KMeans loop.

    python -m benchmarks.selection [--prompts B] [--full] [--device cpu|cuda]

For pools of the paper's scale (N=32 responses, d=1024, k=8) it times, in one run:
- each registered strategy, batched over B prompts (numpy on CPU; torch on the chosen device);
- the naive alternative: a Python loop over prompts calling scikit-learn's KMeans (k-1 clusters,
  k-means++, n_init=1) and taking each cluster's lowest-reward response (measured on a subset of
  prompts, reported per prompt), and a per-prompt loop over this package's own `select_one`;
- with --full, the AMPO selectors on a whole UltraFeedback-scale pool (60,000 prompts).
Ratios (naive time / batched time per prompt) are printed and written with machine info to
benchmarks/results/selection-<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from selection import get_strategy, select, select_one, strategy_names
from selection.provenance import machine, provenance, write_json

AMPO = ("ampo_bottomk", "ampo_coreset", "ampo_optselect")
RESULTS = Path(__file__).parent / "results"


def make_pools(b: int, n: int, d: int, seed: int = 0):
    """Rewards (B, N) float32 and clustered embeddings (B, N, d) float32, generated in chunks."""
    rng = np.random.default_rng(seed)
    rewards = rng.standard_normal((b, n), dtype=np.float32)
    embeddings = np.empty((b, n, d), dtype=np.float32)
    for start in range(0, b, 4096):
        stop = min(start + 4096, b)
        rng.standard_normal((stop - start, n, d), dtype=np.float32, out=embeddings[start:stop])
        centres = rng.standard_normal((stop - start, 6, d), dtype=np.float32) * 2.0
        pick = rng.integers(0, 6, size=(stop - start, n))
        embeddings[start:stop] += np.take_along_axis(centres, pick[:, :, None], axis=1)
    return rewards, embeddings


def timed(fn, repeats: int = 3, sync=None) -> float:
    """Median wall time of fn() over `repeats` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sklearn_coreset_loop(rewards, embeddings, k: int) -> None:
    """The obvious alternative: per prompt, scikit-learn KMeans + lowest reward per cluster."""
    from sklearn.cluster import KMeans

    for r, e in zip(rewards, embeddings, strict=True):
        best = int(np.argmax(r))
        rest = np.delete(np.arange(len(r)), best)
        labels = KMeans(k - 1, n_init=1, random_state=0).fit_predict(e[rest])
        _ = [rest[labels == c][np.argmin(r[rest][labels == c])] for c in range(k - 1)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selection", description=__doc__)
    parser.add_argument("--prompts", type=int, default=2048, help="B for the batched timings")
    parser.add_argument("--naive-prompts", type=int, default=200, help="prompts in the naive loops")
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--full", action="store_true", help="also time 60,000 prompts (AMPO rules)")
    parser.add_argument("--full-prompts", type=int, default=60_000)
    parser.add_argument("--device", default="cpu", help="cpu (numpy and torch) or cuda (torch)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    import torch

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else None
    rewards, embeddings = make_pools(args.prompts, args.n, args.d)
    r_t = torch.from_numpy(rewards).to(args.device)
    e_t = torch.from_numpy(embeddings).to(args.device)
    few = slice(0, args.naive_prompts)

    # Phase 1: the naive per-prompt alternatives, per prompt.
    naive = timed(lambda: sklearn_coreset_loop(rewards[few], embeddings[few], args.k), repeats=1)
    naive_per_prompt = naive / args.naive_prompts

    # Phase 2: every strategy, batched, and as a per-prompt loop over the same API.
    rows = []
    for name in strategy_names():
        k = get_strategy(name).group_size or args.k
        row = {"strategy": name, "k": k}
        if not cuda:
            row["numpy_s"] = timed(lambda n=name, k=k: select(n, rewards, embeddings, k))
        row["torch_s"] = timed(lambda n=name, k=k: select(n, r_t, e_t, k), sync=sync)
        batched = row.get("numpy_s", row["torch_s"])
        loop = (
            timed(
                lambda n=name, k=k: [
                    select_one(n, rewards[b], embeddings[b], k) for b in range(50)
                ],
                repeats=1,
            )
            / 50
        )
        row["per_prompt_loop_us"] = loop * 1e6
        row["batched_us_per_prompt"] = batched / args.prompts * 1e6
        row["speedup_vs_sklearn_loop"] = naive_per_prompt / (batched / args.prompts)
        row["speedup_vs_own_loop"] = loop / (batched / args.prompts)
        rows.append(row)

    # Phase 3: the UltraFeedback-scale pool.
    full = []
    if args.full:
        del r_t, e_t
        big_r, big_e = make_pools(args.full_prompts, args.n, args.d, seed=1)
        if cuda:
            big_r = torch.from_numpy(big_r).to(args.device)
            big_e = torch.from_numpy(big_e).to(args.device, torch.float16)
        for name in AMPO:
            seconds = timed(lambda n=name: select(n, big_r, big_e, args.k), repeats=1, sync=sync)
            full.append({"strategy": name, "prompts": args.full_prompts, "seconds": seconds})

    # Phase 4: report.
    report = {
        "benchmark": "selection",
        "machine": machine(),
        "naive_sklearn_kmeans_us_per_prompt": naive_per_prompt * 1e6,
        "batched": rows,
        "full_scale": full,
        **provenance(vars(args) | {"out": str(args.out)}, seed=0),
    }
    name = "cuda" if cuda else "cpu"
    path = write_json(args.out / f"selection-{name}.json", report)
    print(
        f"B={args.prompts} N={args.n} d={args.d} k={args.k} on {report['machine']['cpu']}"
        f" ({report['machine']['cpu_count']} cores), device {args.device}"
    )
    print(f"naive scikit-learn KMeans loop: {naive_per_prompt * 1e6:9.0f} us/prompt")
    print(
        f"{'strategy':16s} {'batched us/prompt':>18s} {'x vs sklearn loop':>18s} {'x vs own loop':>14s}"
    )
    for row in rows:
        print(
            f"{row['strategy']:16s} {row['batched_us_per_prompt']:18.1f} "
            f"{row['speedup_vs_sklearn_loop']:18.1f} {row['speedup_vs_own_loop']:14.1f}"
        )
    for row in full:
        print(f"full scale {row['strategy']:16s} {row['prompts']} prompts: {row['seconds']:.1f} s")
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
