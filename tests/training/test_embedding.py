"""Embedding backends: a tiny sentence-transformers model and the tiny policy, loaded from disk.

The oracles share no batching code with the embedders: they run one text (or pair) at a time,
unpadded, through the underlying transformer loaded on its own by `from_pretrained`, and
mean-pool its last hidden states by hand (all tokens of the text for sentence-transformers'
mean pooling; the response tokens only for the policy).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from model_pairs import PROMPTS, RESPONSES  # noqa: E402

from training.chat import encode_pair  # noqa: E402
from training.embeddings import EMBEDDERS, Embedder, make_embedder  # noqa: E402
from training.tiny import _WORDS  # noqa: E402

TOL = {"rtol": 1e-5, "atol": 1e-5}


# --- sentence-transformers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A tiny random BertModel and a WordPiece tokenizer over the tiny corpus' words, saved with
    save_pretrained (MiniLM's architecture, 32 dimensions)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("st") / "bert"
    out.mkdir()
    chars = sorted(set("".join(_WORDS)) | set("0123456789.,!?:;'-"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(_WORDS)), *chars]
    vocab += [f"##{c}" for c in chars]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(out / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def st_dir(bert_dir):
    """Transformer + mean Pooling, written by SentenceTransformer.save, loaded later by path."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    word = modules.Transformer(str(bert_dir), max_seq_length=64)
    pooling = modules.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
    out = bert_dir.parent / "sentence-model"
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(out))
    return out


def st_oracle(bert_dir, texts, normalize, max_length=None):
    """Mean of BERT's last hidden states over the tokens of each text ([CLS] and [SEP] too, as
    the attention mask covers them), one text at a time."""
    from transformers import AutoTokenizer, BertModel

    model = BertModel.from_pretrained(bert_dir).eval()
    tok = AutoTokenizer.from_pretrained(bert_dir)
    rows = []
    for text in texts:
        enc = tok(text, truncation=max_length is not None, max_length=max_length)
        with torch.no_grad():
            hidden = model(torch.tensor([enc["input_ids"]])).last_hidden_state[0]  # (T, d)
        v = hidden.mean(0).numpy()
        rows.append(v / np.linalg.norm(v) if normalize else v)
    return np.array(rows)


def st_embedder(path, **options):
    return make_embedder(
        "sentence_transformers", model=str(path), device="cpu", progress=False, **options
    )


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4])
def test_sentence_transformer_equals_manual_mean_pooling(st_dir, bert_dir, normalize, batch_size):
    e = st_embedder(st_dir, normalize=normalize, batch_size=batch_size)
    got = e.embed(PROMPTS, RESPONSES)
    assert isinstance(e, Embedder)
    assert got.dtype == np.float32 and got.shape == (len(RESPONSES), 32)
    np.testing.assert_allclose(got, st_oracle(bert_dir, RESPONSES, normalize), **TOL)
    norms = np.linalg.norm(got, axis=1)
    if normalize:
        np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    else:
        assert np.all(np.abs(norms - 1.0) > 1e-3)


def test_sentence_transformer_reads_responses_only_and_reports(st_dir):
    e = st_embedder(st_dir)
    a = e.embed(PROMPTS, RESPONSES)
    b = e.embed(["something else entirely"] * len(RESPONSES), RESPONSES)
    np.testing.assert_array_equal(a, b)
    assert e.embed([], []).shape == (0, 32)
    meta = e.describe()
    assert meta["backend"] == "sentence_transformers" and meta["model"] == str(st_dir)
    assert meta["dim"] == 32 and meta["normalize"] is True and meta["reads_prompt"] is False
    assert meta["embedded"] == 2 * len(RESPONSES) and meta["truncated"] == 0
    assert meta["max_seq_length"] == 64


def test_sentence_transformer_truncation_is_counted(st_dir, bert_dir, caplog):
    n = 8  # [CLS] + 6 word pieces + [SEP]
    e = st_embedder(st_dir, max_seq_length=n)
    with caplog.at_level(logging.WARNING, logger="training.embeddings.sentence_encoder"):
        got = e.embed(PROMPTS, RESPONSES)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(bert_dir)
    n_long = sum(len(tok(r)["input_ids"]) > n for r in RESPONSES)
    assert 0 < n_long < len(RESPONSES)
    assert e.describe()["truncated"] == n_long
    assert f"{n_long} of {len(RESPONSES)} responses longer than {n} tokens" in caplog.text
    np.testing.assert_allclose(got, st_oracle(bert_dir, RESPONSES, True, max_length=n), **TOL)


# --- the policy ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def policy_oracle(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()


def policy_oracle_embed(model, tokenizer, prompts, responses, max_length=None):
    """One pair at a time, unpadded: mean of the last hidden states over the response tokens.
    `max_length` keeps the last tokens of the prompt that fit in front of the response."""
    rows = []
    for p, r in zip(prompts, responses, strict=True):
        p_ids, r_ids = encode_pair(tokenizer, p, r)
        if max_length is not None:
            p_ids = p_ids[max(0, len(p_ids) + len(r_ids) - max_length) :]
        with torch.no_grad():
            hidden = model.base_model(torch.tensor([p_ids + r_ids])).last_hidden_state[0]  # (T, d)
        rows.append(hidden[len(p_ids) :].mean(0).numpy())
    return np.array(rows)


def policy_embedder(spec, **options):
    return make_embedder(
        "policy",
        model=spec.name_or_path,
        dtype=spec.dtype,
        device=spec.device,
        progress=False,
        **options,
    )


@pytest.fixture(scope="module")
def policy_expected(policy_oracle, tiny_tokenizer):
    return policy_oracle_embed(policy_oracle, tiny_tokenizer, PROMPTS, RESPONSES)


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_policy_batched_equals_one_pair_at_a_time_over_response_tokens(
    tiny_spec, policy_expected, batch_size, padding_side
):
    e = policy_embedder(tiny_spec, batch_size=batch_size, padding_side=padding_side)
    got = e.embed(PROMPTS, RESPONSES)
    assert isinstance(e, Embedder)
    assert got.dtype == np.float32 and got.shape == (len(RESPONSES), 64)
    np.testing.assert_allclose(got, policy_expected, **TOL)


@pytest.fixture(scope="module")
def gpt2_policy_dir(tiny_model_dir, tiny_tokenizer, tmp_path_factory):
    """A tiny GPT2LMHeadModel (learned absolute positions: left padding without position ids
    shifts them, unlike Llama's RoPE) with the tiny tokenizer."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tiny_tokenizer),
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=256,
        pad_token_id=tiny_tokenizer.pad_token_id,
        bos_token_id=tiny_tokenizer.bos_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GPT2LMHeadModel(config)
    out = tmp_path_factory.mktemp("policy") / "tiny-gpt2"
    model.save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_policy_with_absolute_positions_is_padding_invariant(
    gpt2_policy_dir, tiny_tokenizer, tiny_spec, padding_side
):
    from transformers import AutoModelForCausalLM

    oracle = AutoModelForCausalLM.from_pretrained(gpt2_policy_dir, dtype=torch.float32).eval()
    want = policy_oracle_embed(oracle, tiny_tokenizer, PROMPTS, RESPONSES)
    spec = type(tiny_spec)(str(gpt2_policy_dir), dtype="float32", device="cpu")
    e = policy_embedder(spec, batch_size=3, padding_side=padding_side)
    np.testing.assert_allclose(e.embed(PROMPTS, RESPONSES), want, **TOL)


def test_policy_embedding_depends_on_the_prompt_not_on_padding(tiny_spec):
    e = policy_embedder(tiny_spec, batch_size=4)
    response = "the cat is red"
    alone = e.embed(["hello"], [response])[0]
    # in a batch, behind a much longer pair (so this row is padded), at position 1
    batched = e.embed([RESPONSES[-1] * 3, "hello"], ["long " * 40, response])[1]
    np.testing.assert_allclose(batched, alone, **TOL)
    other = e.embed(["sort 3 1 2"], [response])[0]
    assert np.linalg.norm(other - alone) > 1e-2 * np.linalg.norm(alone)


def test_policy_truncation_drops_prompt_tokens_first_and_is_reported(
    tiny_spec, policy_oracle, tiny_tokenizer, caplog
):
    pairs = zip(PROMPTS, RESPONSES, strict=True)
    lengths = [sum(map(len, encode_pair(tiny_tokenizer, p, r))) for p, r in pairs]
    n = 24  # between the shortest and the longest pair, longer than every response
    assert min(lengths) < n < max(lengths)
    e = policy_embedder(tiny_spec, batch_size=4, max_length=n)
    with caplog.at_level(logging.WARNING, logger="training.embeddings.policy"):
        got = e.embed(PROMPTS, RESPONSES)
    n_long = sum(length > n for length in lengths)
    meta = e.describe()
    assert meta["truncated"] == n_long and meta["embedded"] == len(RESPONSES)
    assert f"{n_long} of {len(RESPONSES)} pairs longer than {n} tokens" in caplog.text
    want = policy_oracle_embed(policy_oracle, tiny_tokenizer, PROMPTS, RESPONSES, max_length=n)
    np.testing.assert_allclose(got, want, **TOL)


def test_policy_describe(tiny_spec):
    e = policy_embedder(tiny_spec)
    e.embed(PROMPTS[:2], RESPONSES[:2])
    meta = e.describe()
    assert meta["backend"] == "policy" and meta["model_type"] == "llama"
    assert meta["dim"] == 64 and meta["dtype"] == "float32" and meta["reads_prompt"] is True
    assert meta["padding_side"] == "right" and meta["embedded"] == 2


def test_make_embedder_errors_name_the_valid_choices(tiny_spec, st_dir):
    with pytest.raises(ValueError, match="registered: " + ", ".join(EMBEDDERS)):
        make_embedder("nope")
    with pytest.raises(ValueError, match=r"unknown option 'batchsize' \(valid: .*batch_size"):
        make_embedder("policy", model=tiny_spec.name_or_path, batchsize=2)
    with pytest.raises(ValueError, match="padding_side 'middle'"):
        policy_embedder(tiny_spec, padding_side="middle")
    with pytest.raises(TypeError, match="batchsize"):
        st_embedder(st_dir, batchsize=2)
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        st_embedder(st_dir).embed(PROMPTS[:2], RESPONSES[:1])
