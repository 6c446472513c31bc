"""Preference losses behind one registry (`LOSSES`, `get_loss`), all on the grouped contract.

    from training.losses import get_loss
    entry = get_loss("ampo")
    loss, metrics = entry(policy_logps, ref_logps, lengths, rewards, mask, positive, entry.config())

See `inputs.py` for the tensor contract and paper/INDEX.md for each loss's equation and test.
"""

from training.losses.config import LossConfig
from training.losses.group import AMPOConfig, Positives, RewardWeighting, Score, SWEPOConfig, ampo
from training.losses.infonca import InfoNCAConfig, infonca
from training.losses.inputs import positive_mask
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
from training.losses.registry import LOSSES, LossEntry, get_loss, loss_names
from training.losses.simpo import SimPOConfig, simpo

__all__ = [
    "LOSSES",
    "AMPOConfig",
    "CDPOConfig",
    "DPOConfig",
    "IPOConfig",
    "InfoNCAConfig",
    "LossConfig",
    "LossEntry",
    "MMPOConfig",
    "PlackettLuceConfig",
    "Positives",
    "RewardWeighting",
    "SWEPOConfig",
    "Score",
    "SimPOConfig",
    "ampo",
    "cdpo",
    "dpo",
    "get_loss",
    "infonca",
    "ipo",
    "loss_names",
    "mmpo",
    "plackett_luce",
    "positive_mask",
    "simpo",
]
