"""Figure: expected reward after training on each rule's negatives vs group size k (check 2).

Under the kernel-suppression policy model (theory/policy_model.py), left: the mean gain in expected
reward E_{p'}[r] - E_p[r] per selection rule (registered fixed-k strategies and the exact ILP) as k
grows; right: the weighted suppression of low-reward mass W(S) per rule with the coverage-lemma
bound B(S*) of the ILP optimum (the best bound, Theorem 6.1 as formalised in theory/checks/policy.py)
overlaid. Cheap Monte-Carlo sizes; `make bounds` runs the full check.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from theory.checks.instances import EXACT
from theory.checks.policy import PolicyConfig, evaluate

from .registry import register, save

CONFIG = {"instances": 30, "group_sizes": (2, 4, 6, 8, 12)}
SEED = 0


@register("theory_expected_reward")
def draw(out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = replace(PolicyConfig(), instances=CONFIG["instances"])
    ks = CONFIG["group_sizes"]
    gain, supp, bound = {}, {}, []
    for k in ks:
        values, e0 = evaluate(replace(base, k=k), SEED)
        for name, v in values.items():
            gain.setdefault(name, []).append(np.mean(v.expected_reward - e0))
            supp.setdefault(name, []).append(np.mean(v.suppression))
        bound.append(np.mean(values[EXACT].bound))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for name in gain:
        style = {"color": "black", "linewidth": 2.4} if name == EXACT else {}
        left.plot(ks, gain[name], marker="o", label=name, **style)
        right.plot(ks, supp[name], marker="o", label=name, **style)
    right.plot(ks, bound, "k--", linewidth=2, label="bound B(S*) of the ILP (T1)")
    left.axhline(0.0, color="grey", linewidth=0.8)
    left.set(xlabel="group size k (1 positive + k-1 negatives)", ylabel="E_p'[r] - E_p[r]")
    left.set_title(f"expected-reward gain (eta={base.eta}, h={base.bandwidth})", fontsize=10)
    right.set(xlabel="group size k", ylabel="sum_i w_i s_i(S)")
    right.set_title("weighted suppression of low-reward mass, with the coverage bound", fontsize=10)
    left.legend(fontsize=7, ncol=2)
    right.legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"Theorem 6.1 under the kernel-suppression model ({CONFIG['instances']} pools of "
        f"N={base.landscape.n_points} per k)"
    )
    config = CONFIG | {"policy": asdict(base)}
    paths = save(fig, out_dir / "theory_expected_reward", config, SEED)
    plt.close(fig)
    return paths
