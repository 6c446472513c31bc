"""AlpacaEval 2's metrics, computed by alpaca_eval's own code (`alpaca_eval.metrics`).

Win rate, its standard error and the discrete win rate come from `get_winrate`; the length-controlled
win rate from `get_length_controlled_winrate(..., save_weights_dir=None)`, whose GLM always reads
`df_gamed.csv` of the `tatsu-lab/alpaca_eval` dataset through `hf_hub_download`. With `df_gamed=PATH`
exactly that file is used (staged in a temporary Hugging Face cache, offline); without it, alpaca_eval
looks it up as it always does, and when that fails the LC win rate is None with the reason.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from pathlib import Path

import pandas as pd

HUB_DATASET = "tatsu-lab/alpaca_eval"
_STAGE_LOCK = threading.Lock()  # the staging patches module globals


@contextlib.contextmanager
def staged_df_gamed(path: str | Path):
    """alpaca_eval's `hf_hub_download(df_gamed.csv)` answers `path`, offline, for the duration."""
    import alpaca_eval.constants as ae_constants
    from huggingface_hub import constants as hf_constants

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"df_gamed: no file {path}")
    with _STAGE_LOCK, tempfile.TemporaryDirectory(prefix="df-gamed-") as cache:
        repo = Path(cache) / ("datasets--" + HUB_DATASET.replace("/", "--"))
        revision = "0" * 40
        (repo / "snapshots" / revision).mkdir(parents=True)
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
        shutil.copyfile(path, repo / "snapshots" / revision / "df_gamed.csv")
        saved = ae_constants.DEFAULT_CACHE_DIR, hf_constants.HF_HUB_OFFLINE
        ae_constants.DEFAULT_CACHE_DIR, hf_constants.HF_HUB_OFFLINE = cache, True
        try:
            yield
        finally:
            ae_constants.DEFAULT_CACHE_DIR, hf_constants.HF_HUB_OFFLINE = saved


def annotations_frame(annotations) -> pd.DataFrame:
    """Rows in benchmark order; `index` is the instruction's row position (alpaca_eval's id)."""
    df = pd.DataFrame(list(annotations))
    df["preference"] = df["preference"].astype(float)  # None -> NaN: alpaca_eval drops it
    df["index"] = range(len(df))
    return df


def metrics(annotations, df_gamed: str | Path | None = None) -> dict:
    """{win_rate, standard_error, discrete_win_rate, length_controlled_winrate, lc_standard_error,
    lc_unavailable (None, or why LC is None), unscored (None, or why nothing is: every judgment
    failed), n, n_failed, counts} in percent as alpaca_eval reports."""
    from alpaca_eval.metrics import get_length_controlled_winrate, get_winrate

    df = annotations_frame(annotations)
    n_failed = int(df["preference"].isna().sum())
    if n_failed == len(df):  # alpaca_eval would give NaN everywhere: say why instead
        return {
            **dict.fromkeys(
                ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_winrate")
            ),
            "lc_standard_error": None,
            "lc_unavailable": None,
            "unscored": f"every judgment failed ({n_failed} of {len(df)}): no preference to score",
            "n": 0,
            "n_failed": n_failed,
            "counts": {"model_wins": 0, "baseline_wins": 0, "draws": 0},
        }
    wr = get_winrate(df)
    out = {
        "win_rate": float(wr["win_rate"]),
        "standard_error": float(wr["standard_error"]),
        "discrete_win_rate": float(wr["discrete_win_rate"]),
        "length_controlled_winrate": None,
        "lc_standard_error": None,
        "lc_unavailable": None,
        "unscored": None,
        "n": int(wr["n_total"]),
        "n_failed": n_failed,
        "counts": {
            "model_wins": int(wr["n_wins"]),
            "baseline_wins": int(wr["n_wins_base"]),
            "draws": int(wr["n_draws"]),
        },
    }
    stage = staged_df_gamed(df_gamed) if df_gamed is not None else contextlib.nullcontext()
    try:
        with stage:
            lc = get_length_controlled_winrate(df.copy(), save_weights_dir=None)
    except Exception as error:  # any failure: LC None, and the reason said
        source = f"--df-gamed {df_gamed}" if df_gamed is not None else f"{HUB_DATASET}/df_gamed.csv"
        out["lc_unavailable"] = (
            f"length-controlled win rate unavailable: alpaca_eval's GLM needs df_gamed.csv "
            f"({source}): {type(error).__name__}: {error}"
        )
        return out
    out["length_controlled_winrate"] = float(lc["length_controlled_winrate"])
    out["lc_standard_error"] = float(lc["lc_standard_error"])
    return out
