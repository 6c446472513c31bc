"""The catalogue of mutants: plausible one-line bugs in the math, each a literal replacement.

Every mutant replaces one exact snippet (it must occur exactly once in its file, so a catalogue
that has drifted from the code fails loudly instead of testing nothing) by a bug of the kind a
careful reviewer could miss: a sign, a constant, a distance, an argmin for an argmax, a dropped
term. `area` says which suites must catch it: every mutant must turn the fast test suite red;
"selection" and "theory" mutants must also make `make bounds` fail.
"""

from __future__ import annotations

from dataclasses import dataclass

AREAS = ("selection", "theory", "losses")


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the project root
    old: str  # the exact snippet replaced (must occur once)
    new: str
    area: str  # one of AREAS
    bug: str  # what the mutant does, in words

    def __post_init__(self):
        if self.area not in AREAS:
            raise ValueError(f"mutant {self.name}: area must be one of {AREAS}, got {self.area!r}")
        if self.old == self.new:
            raise ValueError(f"mutant {self.name}: the replacement changes nothing")

    @property
    def needs_bounds(self) -> bool:
        """Whether `make bounds` must catch it (the checks test selection and theory code)."""
        return self.area in ("selection", "theory")


MUTANTS: tuple[Mutant, ...] = (
    # -- selection ------------------------------------------------------------------------
    Mutant(
        "optselect_squared_distances",
        "selection/strategies/ampo_optselect.py",
        "result = kmedoids(pool.dist, weights,",
        "result = kmedoids(pool.sqdist, weights,",
        "selection",
        "OptSelect minimises squared instead of Euclidean distances",
    ),
    Mutant(
        "weights_sign_flipped",
        "selection/objective.py",
        "z = (lowest - r) / temperature",
        "z = (r - lowest) / temperature",
        "selection",
        "OptSelect weights exp((r - rbar)/tau): high reward weighs more",
    ),
    Mutant(
        "cost_ignores_weights",
        "selection/objective.py",
        "return xp.sum(weights * nearest, axis=-1)",
        "return xp.sum(nearest, axis=-1)",
        "selection",
        "the coverage cost drops the weights",
    ),
    Mutant(
        "local_search_never_swaps",
        "selection/strategies/ampo_optselect.py",
        "max_swaps: int = 100",
        "max_swaps: int = 0",
        "selection",
        "OptSelect stops after the greedy build: no swap",
    ),
    Mutant(
        "swap_delta_second_nearest",
        "selection/kmedoids.py",
        "close2 = xp.minimum(dist, d2[:, :, None])",
        "close2 = xp.minimum(dist, d1[:, :, None])",
        "selection",
        "FastPAM1's removal term uses the nearest instead of the second-nearest medoid",
    ),
    Mutant(
        "greedy_build_forgets",
        "selection/kmedoids.py",
        "nearest = xp.minimum(nearest, gather_rows(dist, j))",
        "nearest = gather_rows(dist, j)",
        "selection",
        "greedy build forgets the medoids chosen before the last one",
    ),
    Mutant(
        "kmeans_farthest_centre",
        "selection/kmeans.py",
        "labels = xp.argmin(init, axis=2)  # (B, N)",
        "labels = xp.argmax(init, axis=2)  # (B, N)",
        "selection",
        "k-means assigns each point to its farthest initial centre",
    ),
    Mutant(
        "kmeanspp_worst_trial",
        "selection/kmeans.py",
        "pick = xp.argmin(potential, axis=1)  # (B,)",
        "pick = xp.argmax(potential, axis=1)  # (B,)",
        "selection",
        "greedy k-means++ keeps the trial of highest potential",
    ),
    Mutant(
        "centroid_distance_formula",
        "selection/kmeans.py",
        "dist = s / safe[:, None, :] - (within / (2.0 * safe * safe))[:, None, :]",
        "dist = s / safe[:, None, :] - (within / (safe * safe))[:, None, :]",
        "selection",
        "the point-to-centroid distance from D2 without the 1/2 of the pair sum",
    ),
    Mutant(
        "coreset_highest_reward",
        "selection/strategies/ampo_coreset.py",
        "keyed = xp.where(member_of, rewards, xp.full_like(rewards, xp.inf))",
        "keyed = xp.where(member_of, -rewards, xp.full_like(rewards, xp.inf))",
        "selection",
        "Coreset takes the highest-reward member of each cluster",
    ),
    Mutant(
        "kcenter_nearest_update",
        "selection/farthest.py",
        "nearest = xp.minimum(nearest, gather_rows(dist, nxt))",
        "nearest = xp.maximum(nearest, gather_rows(dist, nxt))",
        "selection",
        "farthest-first keeps the distance to the farthest picked point",
    ),
    Mutant(
        "dpp_quality_not_square_root",
        "selection/strategies/dpp.py",
        "quality = xp.sqrt(weights)  # (B, N)",
        "quality = weights  # (B, N)",
        "selection",
        "DPP quality q_i = w_i instead of sqrt(w_i) (kernel L_ii = w_i^2)",
    ),
    Mutant(
        "gram_identity_factor",
        "selection/geometry.py",
        "d2 = sq_u[:, :, None] + sq_u[:, None, :] - (2.0 * inv)[:, None, None] * gram",
        "d2 = sq_u[:, :, None] + sq_u[:, None, :] - inv[:, None, None] * gram",
        "selection",
        "squared distances from the Gram matrix without the factor 2",
    ),
    Mutant(
        "positive_is_the_worst",
        "selection/pool.py",
        "order = masked_argsort(self.rewards, self.mask, descending=True)",
        "order = masked_argsort(self.rewards, self.mask, descending=False)",
        "selection",
        "the positive is the lowest-reward response",
    ),
    # -- theory ---------------------------------------------------------------------------
    Mutant(
        "ilp_ignores_candidates",
        "theory/ilp.py",
        "cols = np.flatnonzero(cand)  # (C,)",
        "cols = np.arange(cand.size)  # (C,)",
        "theory",
        "the ILP may pick medoids outside its candidate set",
    ),
    Mutant(
        "gaussian_kernel_lipschitz",
        "theory/landscapes.py",
        'Kernel("gaussian", _gaussian, math.exp(-0.5))',
        'Kernel("gaussian", _gaussian, math.exp(-1.0))',
        "theory",
        "the Gaussian kernel's Lipschitz constant e^-1 instead of e^-1/2",
    ),
    Mutant(
        "bump_lipschitz_signed",
        "theory/landscapes.py",
        "np.sum(np.abs(self.heights) / self.widths, -1)",
        "np.sum(self.heights / self.widths, -1)",
        "theory",
        "the bump reward's Lipschitz constant sums signed heights",
    ),
    Mutant(
        "landscape_distances_squared",
        "theory/landscapes.py",
        'out[s : s + step] = np.sqrt(np.einsum("mnkd,mnkd->mnk", diff, diff))',
        'out[s : s + step] = np.einsum("mnkd,mnkd->mnk", diff, diff)',
        "theory",
        "landscape distances are squared Euclidean",
    ),
    Mutant(
        "policy_update_sign",
        "theory/policy_model.py",
        "unnorm = p0 * np.exp(-eta * (s - s_min))",
        "unnorm = p0 * np.exp(eta * (s - s_min))",
        "theory",
        "training on a negative raises its probability (update with the wrong sign)",
    ),
    Mutant(
        "nearest_model_farthest_negative",
        "theory/policy_model.py",
        "return np.min(np.where(selected[:, None, :], distances, np.inf), axis=-1)",
        "return np.max(np.where(selected[:, None, :], distances, -np.inf), axis=-1)",
        "theory",
        "the saturating models measure the distance to the farthest selected negative",
    ),
    Mutant(
        "first_order_gain_sign",
        "theory/policy_model.py",
        "return np.sum(p0 * (rbar - r) * s, axis=-1)",
        "return np.sum(p0 * (r - rbar) * s, axis=-1)",
        "theory",
        "the first-order expected-reward gain with the wrong sign",
    ),
    # -- losses -----------------------------------------------------------------------------
    Mutant(
        "ipo_target_one_over_tau",
        "training/losses/pairwise.py",
        "(pair_differences(u) - 1.0 / (2.0 * cfg.tau)) ** 2",
        "(pair_differences(u) - 1.0 / cfg.tau) ** 2",
        "losses",
        "IPO pulls h to 1/tau instead of 1/(2 tau)",
    ),
    Mutant(
        "simpo_margin_sign",
        "training/losses/simpo.py",
        "-F.logsigmoid(pair_differences(u) - cfg.gamma)",
        "-F.logsigmoid(pair_differences(u) + cfg.gamma)",
        "losses",
        "SimPO adds the target margin instead of subtracting it",
    ),
    Mutant(
        "cdpo_smoothing_reversed",
        "training/losses/pairwise.py",
        "soft_bradley_terry_nll(pair_differences(u), 1.0 - eps, eps)",
        "soft_bradley_terry_nll(pair_differences(u), eps, 1.0 - eps)",
        "losses",
        "cDPO's target is eps instead of 1 - eps",
    ),
    Mutant(
        "mmpo_target_reversed",
        "training/losses/pairwise.py",
        "logit = cfg.gamma_bt * pair_differences(g.rewards)  # (B, k, k)",
        "logit = -cfg.gamma_bt * pair_differences(g.rewards)  # (B, k, k)",
        "losses",
        "MMPO's soft target from the reversed reward margin",
    ),
    Mutant(
        "softplus_argument_sign",
        "training/losses/reductions.py",
        "return torch.where(has_rest, -F.logsigmoid(-d), 0.0)",
        "return torch.where(has_rest, -F.logsigmoid(d), 0.0)",
        "losses",
        "the stable group / softmax / Plackett-Luce term softplus(-d) instead of softplus(d)",
    ),
    Mutant(
        "mean_split_at_or_above",
        "training/losses/group.py",
        "accepted = mask & (rewards > rbar)  # (B, k)",
        "accepted = mask & (rewards >= rbar)  # (B, k)",
        "losses",
        "SWEPO's accepted set includes responses exactly at the mean",
    ),
    Mutant(
        "plackett_luce_includes_itself",
        "training/losses/plackett_luce.py",
        "after = torch.ones(k, k, dtype=torch.bool, device=u.device).triu(1)  # after[t, s] = s > t",
        "after = torch.ones(k, k, dtype=torch.bool, device=u.device).triu(0)  # after[t, s] = s > t",
        "losses",
        "Plackett-Luce's later set includes the current position",
    ),
    Mutant(
        "plackett_luce_ascending",
        "training/losses/plackett_luce.py",
        "by_reward = torch.sort(-rewards, dim=-1, stable=True).indices  # (B, k)",
        "by_reward = torch.sort(rewards, dim=-1, stable=True).indices  # (B, k)",
        "losses",
        "Plackett-Luce ranks each block by increasing reward",
    ),
    Mutant(
        "infonca_labels_reversed",
        "training/losses/infonca.py",
        'return torch.softmax((rewards / temperature).masked_fill(~mask, float("-inf")), dim=-1)',
        'return torch.softmax((-rewards / temperature).masked_fill(~mask, float("-inf")), dim=-1)',
        "losses",
        "InfoNCA's soft labels from -r",
    ),
    Mutant(
        "dpo_logsigmoid_sign",
        "training/losses/pairwise.py",
        "loss = pair_mean(-F.logsigmoid(pair_differences(u)), g)  # (B,)",
        "loss = pair_mean(-F.logsigmoid(-pair_differences(u)), g)  # (B,)",
        "losses",
        "DPO's -log sigma(-beta h)",
    ),
    Mutant(
        "ampo_no_length_normalisation",
        "training/losses/group.py",
        "return cfg.beta * g.policy / g.lengths  # (B, k)",
        "return cfg.beta * g.policy  # (B, k)",
        "losses",
        "AMPO's length-normalised score without the division by |y|",
    ),
)


def get_mutant(name: str) -> Mutant:
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise ValueError(
        f"unknown mutant {name!r}; choose one of: {', '.join(m.name for m in MUTANTS)}"
    )
