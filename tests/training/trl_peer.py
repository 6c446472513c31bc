"""TRL as a reference peer: the loss / grad-norm trajectory TRL 1.16 gives on the tiny model.

A test runs our trainer and TRL on the same (prompt, chosen, rejected) pairs with the same
hyperparameters and asserts that the per-step `loss` and `grad_norm` agree. TRL differs from our
trainer in ways that change the numbers unless pinned; each is pinned here (TRL 1.16,
transformers 5.24):

- Precision and memory tricks. `DPOConfig`/`CPOConfig` default to `bf16=True` (even on CPU),
  `gradient_checkpointing=True` and `optim="adamw_torch_fused"`; we set the model's own dtype with
  no autocast, no checkpointing, plain `torch.optim.AdamW`. Dropout is disabled by TRL
  (`disable_dropout=True`); the tiny Llama has none anyway. Two limits on fp64: DPOTrainer's
  log-probs come from its chunked fused LM head, which keeps the log-softmax statistics in float32
  whatever the model's dtype (DPO/IPO in fp64 are only fp32-exact, ~1e-6); and transformers sums
  the logged loss in a float32 tensor (~1e-7). CPOTrainer (plain logits) is float64 throughout.
- Tokens. Our convention (`training.chat`): prompt = chat template with the generation prompt,
  response = what the template appends for the answer (end-of-turn tokens included), tokenised
  separately, no special tokens added. `DPOTrainer` given *conversational* data renders the same
  template and adds no EOS (for plain-text data it appends `eos_token` to any completion not ending
  in it: ChatML's `<|im_end|>\\n` does not, so plain text would gain a second EOS). `CPOTrainer`
  always prepends BOS to the prompt unless it starts with BOS and appends EOS unless the response
  ends in EOS; the tiny ChatML template has neither (a template that starts with BOS and ends the
  turn in the tokenizer's EOS gets nothing added), so `_AlignedCPOTrainer` keeps TRL's rows less
  those two additions, after checking that they are the only difference. DPO's ids are checked
  against ours on every row too.
- Data order. TRL's `RandomSampler` (seed `args.seed`) is replaced by
  `train_sampling_strategy="sequential"` on a dataset already in our trainer's order:
  `contract_order` concatenates the per-epoch permutations `randperm(n, seed * 1_000_003 + epoch)`
  until `max_steps * batch_size * grad_accum` rows, so TRL sees one "epoch" of exactly the rows our
  trainer visits, in the same micro-batches.
- Loss reduction. Each micro-batch's loss is the mean over its pairs; TRL divides it by
  `grad_accum` before `backward` (`loss_is_scaled_for_ga = False`), so the gradient is the mean over
  the global batch when micro-batches are equal. The logged `loss` is the sum of the divided
  micro-batch losses, i.e. the mean of micro-batch means (with `logging_steps=1`), and `grad_norm` is
  the pre-clip total norm returned by `clip_grad_norm_`.
- Schedule. transformers' `cosine_with_min_lr` warms up as `step / W` (lr 0 at step 0, W =
  `ceil(warmup_steps * total)` for a fractional `warmup_steps`); our contract warms up as
  `(step + 1) / W`; after warmup both are the same cosine. So TRL is handed an AdamW (one group,
  unfused) and a `LambdaLR` of our formula through its `optimizers` argument. (transformers' own
  AdamW would also exempt biases and norm weights from weight decay; the tests use none.)
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

Pair = tuple[str, str, str]  # (prompt, chosen, rejected): a user prompt and two answer texts

DPO_LOSSES = ("sigmoid", "ipo")  # run by DPOTrainer
CPO_LOSSES = ("simpo",)  # run by trl.experimental.cpo.CPOTrainer with cpo_alpha = 0
MAX_LENGTH = 4096  # tokens per sequence; above every test row, so TRL truncates nothing


@dataclass(frozen=True)
class PeerConfig:
    """Hyperparameters shared by TRL and our trainer (names follow `training.config.TrainConfig`)."""

    loss: str = "sigmoid"  # TRL loss name: sigmoid, ipo (DPOTrainer) or simpo (CPOTrainer)
    beta: float = 0.1  # DPO's beta; IPO's tau; SimPO's beta
    simpo_gamma: float = 0.0  # SimPO's target margin gamma (absolute, = beta * gamma_beta_ratio)
    lr: float = 1e-3
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.0
    max_steps: int = 20
    batch_size: int = 2  # pairs per micro-batch
    grad_accum: int = 2
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    seed: int = 0
    dtype: str = "float32"  # or float64
    threads: int | None = 1  # torch CPU threads while running (None: leave as is)

    def __post_init__(self):
        if self.loss not in DPO_LOSSES + CPO_LOSSES:
            raise ValueError(f"loss {self.loss!r}: one of {', '.join(DPO_LOSSES + CPO_LOSSES)}")

    @property
    def rows(self) -> int:
        """Pairs consumed by `max_steps` optimizer steps."""
        return self.max_steps * self.batch_size * self.grad_accum


@dataclass
class Trajectory:
    loss: list[float]
    grad_norm: list[float]
    lr: list[float]
    logs: list[dict] = field(default_factory=list)  # TRL's log rows, one per step


# -- what our trainer does, restated ---------------------------------------------------------


def contract_order(n: int, seed: int, rows: int) -> list[int]:
    """Dataset indices in the order our trainer visits them: epoch e is
    `randperm(n, generator=manual_seed(seed * 1_000_003 + e))`, epochs concatenated."""
    import torch

    out: list[int] = []
    epoch = 0
    while len(out) < rows:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        out.extend(torch.randperm(n, generator=g).tolist())
        epoch += 1
    return out[:rows]


def contract_lr_lambda(total: int, warmup_ratio: float, min_lr_ratio: float):
    """Our schedule: (step + 1) / W for step < W = ceil(warmup_ratio * total), then a cosine from
    1 to min_lr_ratio over the remaining steps (transformers' `cosine_with_min_lr` after warmup)."""
    warmup = math.ceil(warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# -- running TRL ----------------------------------------------------------------------------


def _quiet_offline_env():
    """No hub, no telemetry, no progress bars (read by huggingface_hub / TRL at use)."""
    for key in (
        "HF_HUB_OFFLINE",
        "HF_HUB_DISABLE_TELEMETRY",
        "TQDM_DISABLE",
        "HF_DATASETS_OFFLINE",
    ):
        os.environ.setdefault(key, "1")
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()


@contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads set to `n` for the block. One thread: reductions in one fixed
    order, and on a loaded 2-core machine OpenMP's spinning makes two threads ~10x slower."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _load(model_dir: str | Path, dtype: str):
    from training.models import ModelSpec, load_model, load_tokenizer

    spec = ModelSpec(str(model_dir), dtype=dtype, device="cpu")
    return load_model(spec), load_tokenizer(spec)


def _common_args(cfg: PeerConfig, out: str) -> dict:
    return dict(
        output_dir=out,
        use_cpu=True,
        bf16=False,
        fp16=False,
        activation_checkpointing=False,  # the new name; `gradient_checkpointing` warns
        # AdamW and the schedule come in through `optimizers` (`_optimizers`); TRL's own would be
        # optim="adamw_torch", lr_scheduler_type="cosine_with_min_lr", warmup_steps=ratio
        learning_rate=cfg.lr,
        max_grad_norm=cfg.max_grad_norm,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        train_sampling_strategy="sequential",
        seed=cfg.seed,
        beta=cfg.beta,
        max_length=MAX_LENGTH,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _optimizers(model, cfg: PeerConfig):
    """(AdamW, LambdaLR) of our contract: one parameter group, plain (unfused) torch AdamW."""
    import torch

    opt = torch.optim.AdamW(
        model.parameters(),
        lr=cfg.lr,
        betas=cfg.adam_betas,
        eps=cfg.adam_eps,
        weight_decay=cfg.weight_decay,
    )
    lam = contract_lr_lambda(cfg.max_steps, cfg.warmup_ratio, cfg.min_lr_ratio)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lam)


def _trajectory(trainer) -> Trajectory:
    rows = [r for r in trainer.state.log_history if "loss" in r and "grad_norm" in r]
    if [r["step"] for r in rows] != list(range(1, len(rows) + 1)):
        raise AssertionError(f"TRL logged steps {[r['step'] for r in rows]}, expected 1..N")
    return Trajectory(
        loss=[float(r["loss"]) for r in rows],
        grad_norm=[float(r["grad_norm"]) for r in rows],
        lr=[float(r["learning_rate"]) for r in rows],
        logs=rows,
    )


def run_trl(
    model_dir: str | Path,
    pairs: Sequence[Pair],
    cfg: PeerConfig,
    ref_model_dir: str | Path | None = None,
) -> Trajectory:
    """Train the model in `model_dir` with TRL for `cfg.max_steps` steps on `pairs` (dataset order;
    visited in our trainer's order) and return TRL's per-step loss, grad_norm and lr.

    DPO losses use the reference model in `ref_model_dir` (default: the initial policy, loaded
    again); SimPO has none."""
    _quiet_offline_env()
    from transformers import PrinterCallback

    ordered = [pairs[i] for i in contract_order(len(pairs), cfg.seed, cfg.rows)]
    with tempfile.TemporaryDirectory(prefix="trl-peer-") as out, _torch_threads(cfg.threads):
        if cfg.loss in DPO_LOSSES:
            trainer = _dpo_trainer(model_dir, ref_model_dir or model_dir, ordered, cfg, out)
            check_dpo_tokens(trainer.train_dataset, ordered, trainer.processing_class)
        else:
            trainer = _cpo_trainer(model_dir, ordered, cfg, out)
        trainer.remove_callback(PrinterCallback)  # it prints every log row
        with warnings.catch_warnings():
            # TRL reads `model.is_gradient_checkpointing`, deprecated in transformers 5.24
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            trainer.train()
        return _trajectory(trainer)


def _dpo_trainer(
    model_dir, ref_model_dir, ordered: list[Pair], cfg: PeerConfig, out: str, conversational=True
):
    from trl import DPOConfig, DPOTrainer

    model, tok = _load(model_dir, cfg.dtype)
    ref_model, _ = _load(ref_model_dir, cfg.dtype)
    return DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=DPOConfig(**_common_args(cfg, out), loss_type=[cfg.loss]),
        train_dataset=_dpo_data(ordered, tok, conversational),
        processing_class=tok,
        optimizers=_optimizers(model, cfg),
    )


def _dpo_data(ordered: Sequence[Pair], tok, conversational: bool):
    """Conversational rows (TRL renders the model's template and adds no EOS: our ids), or the
    same conversation pre-rendered as text (TRL appends `eos_token` to completions not ending in
    it, and ChatML's turn ends in `<|im_end|>\\n`)."""
    from datasets import Dataset

    from training.chat import split_text

    rows = []
    for p, c, r in ordered:
        if conversational:
            rows.append(
                {
                    "prompt": [{"role": "user", "content": p}],
                    "chosen": [{"role": "assistant", "content": c}],
                    "rejected": [{"role": "assistant", "content": r}],
                }
            )
        else:
            head, chosen = split_text(tok, p, c)
            rows.append({"prompt": head, "chosen": chosen, "rejected": split_text(tok, p, r)[1]})
    return Dataset.from_list(rows)


def dpo_token_rows(model_dir, pairs: Sequence[Pair], conversational: bool = True) -> list[tuple]:
    """(prompt_ids, chosen_ids, rejected_ids) as DPOTrainer tokenises `pairs` in either form."""
    _quiet_offline_env()
    cfg = PeerConfig(max_steps=1)
    with tempfile.TemporaryDirectory(prefix="trl-peer-") as out:
        trainer = _dpo_trainer(model_dir, model_dir, list(pairs), cfg, out, conversational)
    return [(r["prompt_ids"], r["chosen_ids"], r["rejected_ids"]) for r in trainer.train_dataset]


def check_dpo_tokens(dataset, ordered: Sequence[Pair], tok) -> None:
    """TRL's prompt/chosen/rejected ids equal ours (`training.chat.encode_pair`) on every row."""
    for i, (row, pair) in enumerate(zip(dataset, ordered, strict=True)):
        got = (row["prompt_ids"], row["chosen_ids"], row["rejected_ids"])
        if got != our_ids(tok, pair):
            raise AssertionError(f"row {i}: TRL tokenised {got}, ours is {our_ids(tok, pair)}")


def our_ids(tok, pair: Pair) -> tuple[list[int], list[int], list[int]]:
    """(prompt, chosen, rejected) token ids under our convention."""
    from training.chat import encode_pair

    prompt, chosen = encode_pair(tok, pair[0], pair[1])
    return prompt, chosen, encode_pair(tok, pair[0], pair[2])[1]


def _cpo_trainer(model_dir, ordered: list[Pair], cfg: PeerConfig, out: str):
    from datasets import Dataset
    from trl.experimental.cpo import CPOConfig

    from training.chat import split_text

    model, tok = _load(model_dir, cfg.dtype)
    rows = []
    for p, c, r in ordered:
        head, chosen = split_text(tok, p, c)
        _, rejected = split_text(tok, p, r)
        rows.append({"prompt": head, "chosen": chosen, "rejected": rejected})
    args = CPOConfig(
        **_common_args(cfg, out),
        loss_type="simpo",
        simpo_gamma=cfg.simpo_gamma,
        cpo_alpha=0.0,  # default 1.0 adds an NLL term on the chosen response
        label_smoothing=0.0,
        remove_unused_columns=False,  # CPO's collator needs the raw columns (it warns otherwise)
    )
    return _aligned_cpo_trainer_cls()(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        optimizers=_optimizers(model, cfg),
    )


def _aligned_cpo_trainer_cls():
    from trl.experimental.cpo import CPOTrainer

    from training.chat import encode

    class _AlignedCPOTrainer(CPOTrainer):
        """CPOTrainer whose rows are our token ids: TRL's own rows less the BOS it prepends to a
        prompt not starting with BOS and the EOS it appends to a response not ending in EOS."""

        def tokenize_row(self, feature, model=None):
            native = super().tokenize_row(feature, model)
            tok = self.processing_class
            prompt = encode(tok, feature["prompt"])
            bos = [tok.bos_token_id] if prompt[:1] != [tok.bos_token_id] else []
            row = {"prompt_input_ids": prompt, "prompt_attention_mask": [1] * len(prompt)}
            for side in ("chosen", "rejected"):
                resp = encode(tok, feature[side])
                eos = [tok.eos_token_id] if resp[-1:] != [tok.eos_token_id] else []
                if native[f"{side}_input_ids"] != bos + prompt + resp + eos:
                    raise AssertionError(
                        f"CPO tokenised {side} as {native[f'{side}_input_ids']}; expected our ids "
                        f"{prompt + resp} with only BOS {bos} prepended and EOS {eos} appended"
                    )
                row[f"{side}_input_ids"] = prompt + resp
                row[f"{side}_attention_mask"] = [1] * (len(prompt) + len(resp))
                row[f"{side}_labels"] = [-100] * len(prompt) + resp
            return row

    return _AlignedCPOTrainer


# -- the same steps by hand ----------------------------------------------------------------


def response_logps(model, tok, pairs: Sequence[tuple[str, str]]):
    """Sum and count of response-token log-probs, one unpadded forward per (prompt, response):
    (logps (N,), lengths (N,)), float64. Plain torch, independent of TRL and of our trainer."""
    import torch

    from training.chat import encode_pair

    sums, lengths = [], []
    for prompt, response in pairs:
        p, r = encode_pair(tok, prompt, response)
        ids = torch.tensor([p + r])
        logits = model(input_ids=ids).logits[0, len(p) - 1 : -1]  # (|r|, V): the logits of r
        logp = torch.log_softmax(logits.to(torch.float64), dim=-1)
        sums.append(logp.gather(-1, torch.tensor(r)[:, None]).sum())
        lengths.append(len(r))
    return torch.stack(sums), torch.tensor(lengths, dtype=torch.float64)


def pair_losses(cfg: PeerConfig, logp_w, logp_l, len_w, len_l, ref_w=None, ref_l=None):
    """Per-pair loss (B,) as TRL defines it, from sequence log-prob sums:

    sigmoid: -log sigma(beta h), h = (logp_w - ref_w) - (logp_l - ref_l)         (DPO, Eq. 7)
    ipo:     (h_n - 1/(2 beta))^2, h_n = h with each log-ratio over its length   (TRL's IPO)
    simpo:   -log sigma(beta (logp_w/|y_w| - logp_l/|y_l|) - gamma)              (SimPO, Eq. 6)
    """
    import torch.nn.functional as F

    if cfg.loss == "simpo":
        return -F.logsigmoid(cfg.beta * (logp_w / len_w - logp_l / len_l) - cfg.simpo_gamma)
    if cfg.loss == "sigmoid":
        return -F.logsigmoid(cfg.beta * ((logp_w - ref_w) - (logp_l - ref_l)))
    h = (logp_w - ref_w) / len_w - (logp_l - ref_l) / len_l
    return (h - 1 / (2 * cfg.beta)) ** 2


def by_hand(
    model_dir: str | Path,
    pairs: Sequence[Pair],
    cfg: PeerConfig,
    ref_model_dir: str | Path | None = None,
    steps: int | None = None,
) -> Trajectory:
    """TRL's first `steps` steps recomputed in plain torch from the facts in the module docstring:
    our data order, micro-batch loss = mean of `pair_losses`, divided by grad_accum; pre-clip
    norm; AdamW; the contract's LambdaLR. Log-probs by unpadded forwards, log-softmax in float64,
    reference log-probs computed once before training (as our groups file holds them)."""
    import torch

    steps = cfg.max_steps if steps is None else steps
    order = contract_order(len(pairs), cfg.seed, cfg.rows)
    with _torch_threads(cfg.threads):
        model, tok = _load(model_dir, cfg.dtype)
        ref_w = ref_l = None
        if cfg.loss in DPO_LOSSES:
            ref, _ = _load(ref_model_dir or model_dir, cfg.dtype)
            with torch.no_grad():
                ref_w, _ = response_logps(ref, tok, [(p, c) for p, c, _ in pairs])
                ref_l, _ = response_logps(ref, tok, [(p, r) for p, _, r in pairs])
        model.train()
        opt, sched = _optimizers(model, cfg)
        out = Trajectory([], [], [])
        for step in range(steps):
            logged = 0.0
            for micro in range(cfg.grad_accum):
                start = (step * cfg.grad_accum + micro) * cfg.batch_size
                idx = order[start : start + cfg.batch_size]
                logp_w, len_w = response_logps(model, tok, [pairs[i][:2] for i in idx])
                logp_l, len_l = response_logps(
                    model, tok, [(pairs[i][0], pairs[i][2]) for i in idx]
                )
                refs = (ref_w[idx], ref_l[idx]) if ref_w is not None else ()
                loss = pair_losses(cfg, logp_w, logp_l, len_w, len_l, *refs).mean()
                (loss / cfg.grad_accum).backward()
                logged += loss.item() / cfg.grad_accum
            norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
            )
            out.loss.append(logged)
            out.grad_norm.append(float(norm))
            out.lr.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
            opt.zero_grad()
        return out
