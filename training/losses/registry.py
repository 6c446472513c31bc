"""The one registry of preference losses: name -> function, config dataclass, summary.

Config choices, CLI choices, error messages and test parametrisation derive from `LOSSES`'s
keys, which are the config classes' `loss_name`s; no list of names is typed anywhere else.
Every function has the signature of the contract (`inputs.py`):

    fn(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg) -> (loss (B,), metrics)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from torch import Tensor

from training.losses.config import LossConfig
from training.losses.group import AMPOConfig, SWEPOConfig, ampo
from training.losses.infonca import InfoNCAConfig, infonca
from training.losses.pairwise import (
    CDPOConfig,
    DPOConfig,
    IPOConfig,
    MMPOConfig,
    cdpo,
    dpo,
    ipo,
    mmpo,
)
from training.losses.plackett_luce import PlackettLuceConfig, plackett_luce
from training.losses.simpo import SimPOConfig, simpo

LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True)
class LossEntry:
    """One registered loss: its function, its hyperparameter dataclass and a one-line summary."""

    fn: LossFn
    config_cls: type[LossConfig]
    summary: str

    @property
    def name(self) -> str:
        return self.config_cls.loss_name

    def config(self, **overrides) -> LossConfig:
        """The loss's config with `overrides` (unknown keys: ValueError listing the fields)."""
        known = [f.name for f in fields(self.config_cls)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; "
                f"valid: {', '.join(known)}"
            )
        return self.config_cls(**overrides)

    def needs_reference(self, cfg: LossConfig | None = None) -> bool:
        """Whether a reference model is needed (under `cfg`, or the default config)."""
        return (cfg if cfg is not None else self.config_cls()).uses_reference

    def __call__(self, policy_logps, ref_logps, lengths, rewards, mask, positive, cfg=None):
        cfg = cfg if cfg is not None else self.config_cls()
        return self.fn(policy_logps, ref_logps, lengths, rewards, mask, positive, cfg)


_ENTRIES = (
    LossEntry(ampo, AMPOConfig, "AMPO group-contrastive loss: one positive vs k negatives."),
    LossEntry(ampo, SWEPOConfig, "SWEPO: mean-split positives, deviation-weighted group loss."),
    LossEntry(dpo, DPOConfig, "DPO: logistic loss on the log-ratio difference."),
    LossEntry(ipo, IPOConfig, "IPO: squared loss pulling the log-ratio difference to 1/(2 tau)."),
    LossEntry(cdpo, CDPOConfig, "cDPO: DPO with label smoothing eps."),
    LossEntry(simpo, SimPOConfig, "SimPO: reference-free, length-normalised, margin gamma."),
    LossEntry(mmpo, MMPOConfig, "MMPO: DPO with a soft target from the reward margin."),
    LossEntry(infonca, InfoNCAConfig, "InfoNCA: soft-label cross-entropy over k responses."),
    LossEntry(
        plackett_luce,
        PlackettLuceConfig,
        "Plackett-Luce: listwise ranking likelihood of the k responses by reward.",
    ),
)

LOSSES: Mapping[str, LossEntry] = MappingProxyType({e.name: e for e in _ENTRIES})


def loss_names() -> tuple[str, ...]:
    """The registered loss names (for config and CLI choices)."""
    return tuple(LOSSES)


def get_loss(name: str) -> LossEntry:
    """The registry entry of `name`; a ValueError listing the valid names otherwise."""
    try:
        return LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {name!r}; valid names: {', '.join(LOSSES)}") from None
