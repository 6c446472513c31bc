"""The weighted_alpaca_eval_gpt4_turbo protocol: prompts from the installed alpaca_eval, seeded
order recorded, preferences equal to alpaca_eval's own logprob_parser with the order undone, the
text fallback recorded, and an end-to-end run against a scripted server on 127.0.0.1."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from evaluation.alpacaeval import (
    ALPACA_EVAL_SEED,
    ANNOTATOR,
    Parser,
    Preference,
    annotate,
    build_requests,
    load_protocol,
    metrics,
    preference_from_logprobs,
    preference_from_text,
)
from evaluation.data.alpaca import (
    ModelOutput,
    load_alpaca_eval,
    read_annotations,
    write_annotations,
    write_model_outputs,
)
from evaluation.judge import Judge, JudgeReply, make_judge

ln = math.log


def test_protocol_is_read_from_the_installed_alpaca_eval():
    p = load_protocol()
    assert (p.numerator_token, p.denominator_tokens) == ("m", ("m", "M"))
    assert (p.max_tokens, p.top_logprobs) == (1, 5)
    assert "{output_1}" in p.template and "{output_2}" in p.template


def test_requests_are_seeded_recorded_and_in_both_orders():
    instructions = [f"task {i}" for i in range(20)]
    model, base = [f"MODEL-{i}" for i in range(20)], [f"BASE-{i}" for i in range(20)]
    pairs = build_requests(instructions, model, base, seed=0)
    assert [p.swapped for p in pairs] == [
        p.swapped for p in build_requests(instructions, model, base, 0)
    ]
    assert {p.swapped for p in pairs} == {True, False}
    assert [p.swapped for p in pairs] != [
        p.swapped for p in build_requests(instructions, model, base, 1)
    ]
    for i, pair in enumerate(pairs):
        r = pair.request
        assert (r.max_tokens, r.top_logprobs) == (1, 5)
        assert [m["role"] for m in r.messages] == ["system", "user"]
        user = r.messages[-1]["content"]
        assert f'"""task {i}"""' in user
        model_first = user.index(f"MODEL-{i}") < user.index(f"BASE-{i}")
        assert model_first == pair.swapped  # "m" names the prompt's first output


def test_prompt_is_alpaca_eval_own_make_prompts():
    from alpaca_eval.utils import make_prompts, prompt_to_chatml

    instruction, base, model = "say {output_1} twice", 'a """quoted"""\nline', "{instruction} x"
    [pair] = build_requests([instruction], [model], [base], seed=ALPACA_EVAL_SEED)
    first, second = (model, base) if pair.swapped else (base, model)
    df = pd.DataFrame({"instruction": [instruction], "output_1": [first], "output_2": [second]})
    [prompt], _ = make_prompts(df, load_protocol().template)
    assert pair.request.messages == tuple(prompt_to_chatml(prompt))


def test_order_is_alpaca_eval_own_choice():
    from alpaca_eval.processors import RandomSwitchTwoColumnsProcessor

    instructions = [f"task {i}" for i in range(20)]
    df = pd.DataFrame({"instruction": instructions, "output_1": "b", "output_2": "m"})
    processor = RandomSwitchTwoColumnsProcessor(
        two_columns_to_switch=["output_1", "output_2"],
        random_seed_columns=["instruction"],
        _switch_column="is_switched_outputs",
    )  # as alpaca_eval's PairwiseAnnotator builds it (default seed 123)
    theirs = processor.preprocess(df)["is_switched_outputs"].tolist()
    ours = [p.swapped for p in build_requests(instructions, ["m"] * 20, ["b"] * 20)]
    assert ours == theirs


def _alpaca_eval_parser(top):
    from alpaca_eval.completion_parsers import logprob_parser

    content = [{"top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}]
    [out] = logprob_parser({"logprobs": {"content": content}}, "m", ["m", "M"], is_binarize=False)
    return out


TOPS = [
    # M 0.75, m 0.25: p_m = 0.25 / (0.25 + 0.75) = 0.25 -> 2 - 0.25 = 1.75 in prompt order
    ([("M", ln(0.75)), ("m", ln(0.25)), ("Both", -9.0)], 1.75),
    # renormalised over the two identifiers: 0.3 / (0.3 + 0.1) = 0.75 -> 1.25
    ([("m", ln(0.3)), ("The", ln(0.2)), ("M", ln(0.1))], 1.25),
    # "m" outside the top-5 has probability 0 -> 2 - 0 = 2
    ([("M", -0.1), ("The", -3.0), ("A", -4.0), ("B", -5.0), ("C", -6.0)], 2.0),
    ([("m", -0.01), ("x", -5.0)], 1.0),  # "M" absent -> p_m = 1 -> 1
]


@pytest.mark.parametrize("top,in_prompt_order", TOPS)
def test_preference_is_alpaca_eval_logprob_parser_with_the_order_undone(top, in_prompt_order):
    assert _alpaca_eval_parser(top) == pytest.approx(in_prompt_order)
    assert preference_from_logprobs(top, swapped=False) == pytest.approx(in_prompt_order)
    # swapped: "m" is the model, so alpaca_eval's 3 - x puts the baseline back as output_1
    assert preference_from_logprobs(top, swapped=True) == pytest.approx(3 - in_prompt_order)


def test_no_identifier_in_the_top_k_is_no_preference():
    top = [("The", -0.1), ("A", -2.0)]
    assert math.isnan(_alpaca_eval_parser(top))
    assert preference_from_logprobs(top, swapped=False) is None


def test_text_fallback():
    assert preference_from_text(" m\n", swapped=False) == Preference.BASELINE_WINS
    assert preference_from_text("m", swapped=True) == Preference.MODEL_WINS
    assert preference_from_text("M", swapped=False) == Preference.MODEL_WINS
    assert preference_from_text("Model m is better", swapped=False) is None


# ---- end to end -------------------------------------------------------------------------------
# The scripted judge thinks the model beats the baseline with probability Q[i], whatever the order:
# it puts log(Q) on the identifier of the model's output, log(1 - Q) on the baseline's (omitted at
# 0). The preference must then be 1 + Q[i] for every row, swapped or not.
Q = [0.9, 0.2, 0.5, 1.0, 0.4]
# win rate = mean(Q) = (0.9 + 0.2 + 0.5 + 1.0 + 0.4) / 5 = 3.0 / 5 = 60.0 %
# deviations from 0.6: .3 -.4 -.1 .4 -.2; squares .09 .16 .01 .16 .04 = .46; var = .46 / 4 = .115
# standard error = sqrt(.115) / sqrt(5) = .339116 / 2.236068 = .151657 -> 15.1657 %
# discrete: wins 0.9, 1.0; baseline wins 0.2, 0.4; draw 0.5 -> (2 + 0.5) / 5 = 50.0 %


def _bench(tmp_path, n):
    base = [
        ModelOutput("helpful_base", f"task {i}", f"BASE-{i}", "gpt4_1106_preview") for i in range(n)
    ]
    bench = load_alpaca_eval(write_model_outputs(tmp_path / "baseline.json", base))
    outputs = [ModelOutput("helpful_base", f"task {i}", f"MODEL-{i}", "ampo") for i in range(n)]
    return bench, outputs


def _scripted(body):
    user = body["messages"][-1]["content"]
    i = int(user.split('"""task ')[1].split('"""')[0])
    model_first = user.index(f"MODEL-{i}") < user.index(f"BASE-{i}")
    model_id, base_id = ("m", "M") if model_first else ("M", "m")
    top = [(model_id, ln(Q[i]))] + ([(base_id, ln(1 - Q[i]))] if Q[i] < 1 else [])
    top = [*sorted(top, key=lambda t: -t[1]), ("Both", -9.0), ("The", -10.0)]
    return top[0][0], top


def test_end_to_end_with_a_scripted_server(judge_server, tmp_path):
    server = judge_server()
    server.answer = _scripted
    bench, outputs = _bench(tmp_path, len(Q))
    judge = make_judge("openai", model="gpt-4-1106-preview", base_url=server.url)
    rows = annotate(judge, bench, outputs, seed=0)
    assert {r["is_switched_outputs"] for r in rows} == {True, False}  # both orders exercised
    assert [body["max_tokens"] for body in server.ok()] == [1] * len(Q)
    assert [body["top_logprobs"] for body in server.ok()] == [5] * len(Q)
    assert [r["preference"] for r in rows] == pytest.approx([1 + q for q in Q])
    assert {r["preference_parser"] for r in rows} == {Parser.LOGPROBS.value}
    assert {r["annotator"] for r in rows} == {ANNOTATOR}
    assert [(r["generator_1"], r["generator_2"]) for r in rows] == [
        ("gpt4_1106_preview", "ampo")
    ] * 5

    m = metrics(rows, df_gamed=tmp_path / "absent.csv")
    assert m["win_rate"] == pytest.approx(60.0)
    assert m["standard_error"] == pytest.approx(15.1657, abs=1e-4)
    assert m["discrete_win_rate"] == pytest.approx(50.0)
    assert m["counts"] == {"model_wins": 2, "baseline_wins": 2, "draws": 1}
    assert m["length_controlled_winrate"] is None and "df_gamed" in m["lc_unavailable"]

    # alpaca_eval itself re-scores the saved annotations.json
    from alpaca_eval.metrics import get_winrate

    path = write_annotations(tmp_path / "annotations.json", rows)
    assert read_annotations(path) == json.loads(json.dumps(rows))
    assert get_winrate(json.loads(path.read_text()))["win_rate"] == pytest.approx(60.0)


class TextOnlyJudge(Judge):
    """A judge without log-probs: it answers the identifier of the model's output."""

    name = "text-only"

    def identity(self):
        return {"backend": self.name}

    def send(self, request):
        user = request.messages[-1]["content"]
        model_first = user.index("MODEL-") < user.index("BASE-")
        return JudgeReply("m" if model_first else "M", None)


def test_a_judge_without_logprobs_falls_back_to_its_answer_recorded(tmp_path):
    bench, outputs = _bench(tmp_path, 6)
    rows = annotate(TextOnlyJudge("x"), bench, outputs, seed=0)
    assert {r["is_switched_outputs"] for r in rows} == {True, False}
    assert [r["preference"] for r in rows] == [Preference.MODEL_WINS] * 6
    assert {r["preference_parser"] for r in rows} == {Parser.TEXT.value}
