"""Stage `select`: k responses per prompt by a registered selection strategy.

Exact text duplicates are collapsed first (the copy with the highest reward kept, then the
lowest index) and counted; near-duplicates are then handled by the strategy (`duplicates=`
option of `selection.select`, collapsed by default). A pool with fewer than k distinct
responses is dropped and counted, never padded with repeats.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from selection import SelectionInputError, get_strategy, select, strategy_names
from selection.duplicates import MODES
from selection.validate import check_choice, check_k
from training.records import GroupRecord, RecordError
from training.stagefile import StageOutput, embeddings_path, read_embeddings, read_records
from training.stages.common import chunks, prompt_key, section

POOLS_PER_BATCH = 256
SELECT_OPTIONS = ("duplicates",)  # options of `selection.select` itself, not of a strategy


def distinct(responses, rewards) -> list[int]:
    """Indices kept after collapsing exact text duplicates (best reward, then first, of each)."""
    best: dict[str, int] = {}
    for i, (text, r) in enumerate(zip(responses, rewards, strict=True)):
        j = best.get(text)
        if j is None or r > rewards[j]:
            best[text] = i
    return sorted(best.values())


def check_select_config(cfg):
    """The strategy of the recipe's `select` section, its k and options checked (a ValueError
    naming the key and the valid choices), before any file is read or written."""
    try:
        strategy = get_strategy(cfg.strategy)
        check_k(cfg.k, strategy.group_size, cfg.strategy)
        options = {k: v for k, v in cfg.options.items() if k not in SELECT_OPTIONS}
        strategy.make_options(**options)
        if "duplicates" in cfg.options:
            check_choice(cfg.options["duplicates"], "duplicates", MODES)
    except SelectionInputError as err:
        key = err.field if err.field in ("strategy", "k") else f"options.{err.field or ''}"
        raise ValueError(f"recipe select.{key.rstrip('.')}: {err}") from None
    except (TypeError, ValueError) as err:
        raise ValueError(f"recipe select.options: {err}") from None
    return strategy


def select_groups(recipe, inp, out: Path, resume: bool = False) -> Path:
    cfg = recipe.select
    strategy = check_select_config(cfg)
    pools = list(read_records(inp, "pool"))
    for line, pool in enumerate(pools, start=1):
        if pool.rewards is None:
            raise RecordError(
                "missing (run the score stage first)",
                field="rewards",
                prompt_id=pool.prompt_id,
                file=inp,
                line=line,
            )
    emb = None
    if strategy.needs_embeddings:
        if not embeddings_path(inp).exists():
            reward_only = [n for n in strategy_names() if not get_strategy(n).needs_embeddings]
            raise FileNotFoundError(
                f"{embeddings_path(inp)}: strategy {cfg.strategy!r} needs the embeddings of "
                f"{inp} (run the embed stage), or choose a strategy that reads rewards only: "
                f"{', '.join(reward_only)}"
            )
        emb = read_embeddings(inp)  # (R, N_max, d)
    inputs = [inp, embeddings_path(inp)] if emb is not None else [inp]
    with StageOutput(
        out, kind="group", config={"select": section(cfg)}, seed=cfg.seed, inputs=inputs
    ) as stage:
        if stage.complete:
            return out
        todo = [i for i, p in enumerate(pools) if p.prompt_id not in stage.done_ids]
        with tqdm(
            total=len(pools), initial=len(pools) - len(todo), desc="select", unit="prompt"
        ) as bar:
            for rows in chunks(todo, POOLS_PER_BATCH):
                stage.write(_select_batch(cfg, pools, emb, rows, stage, inp))
                bar.update(len(rows))
    return out


def _select_batch(cfg, pools, emb, rows, stage, inp) -> list[GroupRecord]:
    kept = {}
    for i in rows:
        pool = pools[i]
        keep = distinct(pool.responses, pool.rewards)
        stage.count("exact_duplicates", len(pool.responses) - len(keep))
        if len(keep) < cfg.k:
            stage.drop(f"fewer than k={cfg.k} distinct responses", prompt_id=pool.prompt_id)
            continue
        kept[i] = keep
    order = list(kept)
    while order:
        try:
            sel = _select_rows(cfg, pools, emb, kept, order)
            break
        except SelectionInputError as err:
            pid = pools[order[err.prompt]].prompt_id if err.prompt is not None else None
            if err.field == "k" and err.prompt is not None:  # near-duplicates left < k
                stage.drop(
                    f"fewer than k={cfg.k} distinct responses after collapsing near-duplicates",
                    prompt_id=pid,
                )
                del order[err.prompt]
                continue
            problem = re.sub(r"^prompt \d+: ", "", str(err))
            raise RecordError(problem, field=err.field, prompt_id=pid, file=inp) from None
    if not order:
        return []
    groups = []
    for b, i in enumerate(order):
        pool, keep = pools[i], kept[i]
        picks = [keep[j] for j in sel.indices[b].tolist()]
        stage.count("near_duplicates", int(sel.collapsed[b]))
        groups.append(
            GroupRecord(
                prompt_id=pool.prompt_id,
                prompt=pool.prompt,
                responses=tuple(pool.responses[j] for j in picks),
                rewards=tuple(float(pool.rewards[j]) for j in picks),
                positive=int(sel.positive[b]),
                strategy=cfg.strategy,
                extra={"pool_indices": picks, "pool_size": len(pool.responses)},
            )
        )
    return groups


def _select_rows(cfg, pools, emb, kept, order):
    """The strategy on pools `order` (indices into `pools`), their exact duplicates removed."""
    n_max = max(len(kept[i]) for i in order)
    rewards = np.zeros((len(order), n_max))  # (B, N)
    mask = np.zeros((len(order), n_max), dtype=bool)  # (B, N)
    vectors = None if emb is None else np.zeros((len(order), n_max, emb.shape[2]), np.float32)
    for b, i in enumerate(order):
        keep = kept[i]
        rewards[b, : len(keep)] = np.asarray(pools[i].rewards)[keep]
        mask[b, : len(keep)] = True
        if vectors is not None:
            vectors[b, : len(keep)] = emb[i][keep]
    keys = np.array([prompt_key(pools[i].prompt_id) for i in order], dtype=np.int64)
    return select(
        cfg.strategy,
        rewards,
        vectors,
        cfg.k,
        mask=mask,
        seed=cfg.seed,
        keys=keys,
        progress=False,
        **cfg.options,
    )
