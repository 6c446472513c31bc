"""Stage `ref-logps`: the reference policy's log-probs of every selected response, stored with
the groups (`ref_logps`, `lengths`), so training needs no reference model in memory.

Token ids, truncation (`train.max_length`) and the response-only sum are the trainer's own
(`training.chat`, `training.batching`, `training.logprobs`): the trainer checks the recorded
lengths against its tokenisation and refuses a mismatch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from tqdm.auto import tqdm

from training.batching import pack_padded
from training.groupdata import check_prompt_room, collate, tokenise_groups
from training.logprobs import sequence_logps
from training.models import load_model, load_tokenizer
from training.stagefile import StageOutput, count_lines, read_records
from training.stages.common import chunks, section


def ref_logps(recipe, inp, out: Path, resume: bool = False) -> Path:
    spec = recipe.reference_spec
    config = {
        "reference": section(spec),
        "max_length": recipe.train.max_length,
        "runtime": {"batch_size": recipe.ref_logps.batch_size},
    }
    tokenizer = load_tokenizer(spec)
    # the whole file is read and every prompt measured before anything is written
    check_prompt_room(read_records(inp, "group"), tokenizer, recipe.train.max_length, file=inp)
    with StageOutput(
        out, kind="group", config=config, inputs=[inp], resume_ignore=("runtime",)
    ) as stage:
        if stage.complete:
            return out
        done = stage.done_ids
        model = load_model(spec)
        groups = (g for g in read_records(inp, "group") if g.prompt_id not in done)
        with tqdm(total=count_lines(inp), initial=len(done), desc="ref-logps", unit="group") as bar:
            for chunk in chunks(groups, recipe.ref_logps.batch_size):
                col = collate(tokenise_groups(chunk, tokenizer))
                batch = pack_padded(
                    col.prompt_ids,
                    col.response_ids,
                    col.mask,
                    tokenizer.pad_token_id,
                    max_length=recipe.train.max_length,
                )
                with torch.no_grad():
                    logps, lengths = sequence_logps(model, batch)  # (B, k)
                stage.count("truncated_responses", batch.n_truncated)
                stage.count("truncated_tokens", batch.n_dropped_tokens)
                written = []
                for b, group in enumerate(chunk):
                    k = len(group.responses)
                    written.append(
                        replace(
                            group,
                            ref_logps=tuple(float(x) for x in logps[b, :k].double().tolist()),
                            lengths=tuple(int(x) for x in lengths[b, :k].tolist()),
                        )
                    )
                stage.write(written)
                bar.update(len(chunk))
    return out
