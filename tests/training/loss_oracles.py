"""Scalar arbitrary-precision oracles of every loss, written from the formulas alone.

Each oracle reads one prompt's valid responses as Python lists of mpmath numbers (the float
inputs converted exactly) and evaluates the loss as PAPER.md section 4 and the docstrings of
`training/losses/` write it: literal sums of exponentials, -log of a probability, one loop per
pair or position. Nothing here calls the package's functions; the config is read only for its
hyperparameters. At `mp.dps` digits a loss L comes out with an absolute error of about
10^-dps, so the relative error is about 10^-dps / L: `oracle_loss` takes the precision.
"""

from __future__ import annotations

from mpmath import mp, mpf
from torch import Tensor

from training.losses import AMPOConfig, LossConfig, MMPOConfig, Positives, RewardWeighting, Score


class Row:
    """One prompt as lists of mpmath numbers over its valid responses (the inputs, exactly)."""

    def __init__(self, policy: Tensor, ref: Tensor, lengths: Tensor, rewards: Tensor, mask, pos):
        idx = [i for i in range(mask.shape[0]) if mask[i]]
        self.logp = [mpf(policy[i].item()) for i in idx]
        self.ref = [mpf(ref[i].item()) for i in idx]
        self.len = [mpf(float(lengths[i])) for i in idx]
        self.r = [mpf(rewards[i].item()) for i in idx]
        self.pos = [n for n, i in enumerate(idx) if pos[i]]
        self.neg = [n for n, i in enumerate(idx) if not pos[i]]
        self.n = len(idx)

    @classmethod
    def of(cls, batch, b: int) -> Row:
        """Row b of a `loss_cases.Batch`."""
        return cls(*(x[b] for x in batch.args()))

    def rho(self, i):
        """log pi(y_i|x) - log pi_ref(y_i|x)."""
        return self.logp[i] - self.ref[i]

    def pairs(self):
        return [(i, j) for i in self.pos for j in self.neg]


def sigma(x):
    return 1 / (1 + mp.exp(-x))


def mean(xs):
    return mp.fsum(xs) / len(xs)


def soft_bt(z, p):
    """-p log sigma(z) - (1 - p) log sigma(-z)."""
    return -p * mp.log(sigma(z)) - (1 - p) * mp.log(sigma(-z))


def dpo(row: Row, cfg) -> mpf:
    return mean([soft_bt(cfg.beta * (row.rho(i) - row.rho(j)), 1) for i, j in row.pairs()])


def cdpo(row: Row, cfg) -> mpf:
    eps = mpf(cfg.label_smoothing)
    return mean([soft_bt(cfg.beta * (row.rho(i) - row.rho(j)), 1 - eps) for i, j in row.pairs()])


def ipo_values(row: Row, cfg) -> list:
    """IPO's per-response log-ratio, divided by |y| when length-normalised."""
    return [row.rho(i) / row.len[i] if cfg.length_normalised else row.rho(i) for i in range(row.n)]


def ipo(row: Row, cfg) -> mpf:
    v = ipo_values(row, cfg)
    return mean([(v[i] - v[j] - 1 / (2 * mpf(cfg.tau))) ** 2 for i, j in row.pairs()])


def simpo(row: Row, cfg) -> mpf:
    u = [cfg.beta * row.logp[i] / row.len[i] for i in range(row.n)]
    gamma = mpf(cfg.beta) * mpf(cfg.gamma_beta_ratio)
    return mean([soft_bt(u[i] - u[j] - gamma, 1) for i, j in row.pairs()])


def mmpo(row: Row, cfg) -> mpf:
    terms = []
    for i, j in row.pairs():
        p = 1 if cfg.gamma_bt is None else sigma(cfg.gamma_bt * (row.r[i] - row.r[j]))
        terms.append(soft_bt(cfg.beta * (row.rho(i) - row.rho(j)), p))
    return mean(terms)


def infonca(row: Row, cfg) -> mpf:
    e = [mp.exp(cfg.beta * row.rho(i)) for i in range(row.n)]
    if cfg.temperature == 0:
        q = [mpf(1) / len(row.pos) if i in row.pos else 0 for i in range(row.n)]
    else:
        w = [mp.exp(r / cfg.temperature) for r in row.r]
        q = [x / mp.fsum(w) for x in w]
    return -mp.fsum(q[i] * mp.log(e[i] / mp.fsum(e)) for i in range(row.n))


def plackett_luce(row: Row, cfg) -> mpf:
    e = [mp.exp(cfg.beta * row.rho(i)) for i in range(row.n)]
    by_reward = lambda ids: sorted(ids, key=lambda i: (-row.r[i], i))  # noqa: E731
    order = by_reward(row.pos) + by_reward(row.neg)
    # -log prod_t e_{pi(t)} / sum_{s >= t} e_{pi(s)}
    return -mp.fsum(mp.log(e[order[t]] / mp.fsum(e[s] for s in order[t:])) for t in range(row.n))


def group_positives(row: Row, cfg) -> list[int]:
    """The group loss's positive set: SWEPO's {i : r_i > rbar} (the given positives when that
    leaves a side empty), or the given positives."""
    if cfg.positives is not Positives.MEAN_SPLIT:
        return row.pos
    above = [i for i in range(row.n) if row.r[i] > mean(row.r)]
    return above if 0 < len(above) < row.n else row.pos


def group_scores(row: Row, cfg) -> list:
    if cfg.score is Score.LOG_RATIO:
        return [cfg.beta * row.rho(i) for i in range(row.n)]
    return [cfg.beta * row.logp[i] / row.len[i] for i in range(row.n)]


def group(row: Row, cfg) -> mpf:
    rbar, pos, s = mean(row.r), group_positives(row, cfg), group_scores(row, cfg)
    terms = []  # w_i exp(s_i - gamma [i in P])
    for i in range(row.n):
        sign = 1 if cfg.weighting is RewardWeighting.ADDITIVE or i in pos else -1
        w = mp.exp(sign * cfg.alpha * (row.r[i] - rbar))
        terms.append(w * mp.exp(s[i] - cfg.gamma if i in pos else s[i]))
    # -log( sum_P / (sum_P + sum_N) )
    return -mp.log(mp.fsum(terms[i] for i in pos) / mp.fsum(terms))


ORACLES = {
    "ampo": group,
    "swepo": group,
    "dpo": dpo,
    "cdpo": cdpo,
    "ipo": ipo,
    "simpo": simpo,
    "mmpo": mmpo,
    "infonca": infonca,
    "plackett_luce": plackett_luce,
}


def oracle_loss(name: str, cfg: LossConfig, row: Row, dps: int = 50) -> mpf:
    """The loss `name` under `cfg` of one prompt, computed with `dps` significant digits."""
    with mp.workdps(dps):
        return ORACLES[name](row, cfg)


# -- the implicit-reward metrics ------------------------------------------------------------
def _beta_log_ratio(row: Row, cfg) -> list:
    return [cfg.beta * row.rho(i) for i in range(row.n)]


# each loss's own implicit reward: beta log pi/pi_ref, beta/|y| log pi, or IPO's log-ratio
IMPLICIT_REWARDS = {
    "ampo": group_scores,
    "swepo": group_scores,
    "ipo": ipo_values,
    "simpo": lambda row, cfg: [cfg.beta * row.logp[i] / row.len[i] for i in range(row.n)],
}


def oracle_metrics(name: str, cfg: LossConfig, row: Row) -> dict[str, float]:
    """TRL's implicit-reward metrics of one prompt: the mean implicit reward over the loss's
    positive set (chosen) and over the other valid responses (rejected), their difference, and
    the fraction of (positive, negative) pairs the implicit reward orders correctly; MMPO adds
    its mean target over the pairs, the group loss the size of its positive set."""
    with mp.workdps(50):
        u = IMPLICIT_REWARDS.get(name, _beta_log_ratio)(row, cfg)
        pos = group_positives(row, cfg) if isinstance(cfg, AMPOConfig) else row.pos
        neg = [i for i in range(row.n) if i not in pos]
        pairs = [(i, j) for i in pos for j in neg]
        out = {
            "rewards/chosen": mean([u[i] for i in pos]),
            "rewards/rejected": mean([u[j] for j in neg]),
            "rewards/accuracies": mean([1 if u[i] > u[j] else 0 for i, j in pairs]),
        }
        out["rewards/margins"] = out["rewards/chosen"] - out["rewards/rejected"]
        if isinstance(cfg, MMPOConfig):
            gamma_bt = cfg.gamma_bt
            p = [
                1 if gamma_bt is None else sigma(gamma_bt * (row.r[i] - row.r[j])) for i, j in pairs
            ]
            out["mmpo/target"] = mean(p)
        if isinstance(cfg, AMPOConfig):
            out["group/n_positive"] = len(pos)
        return {key: float(value) for key, value in out.items()}
