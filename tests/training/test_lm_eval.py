"""Cloze scoring against a hand computation, summary arithmetic, and greedy samples."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch import nn

from llm_lifecycle.toy_world.cloze import ClozeItem
from llm_lifecycle.training.pretraining.evaluation import (
    cloze_summary,
    encode_continuation,
    generate_samples,
    poisson_binomial_sf,
    score_cloze,
)
from tests.conftest import make_tiny_llama

ITEMS = [
    ClozeItem("The teacher lives in", " Moscow.", (" the city.", " Moscow.", " the river."), "city", "en"),
    ClozeItem("Учитель живёт в", " Москве,", (" Москве,", " городе."), "city", "ru"),
    ClozeItem("The pilot flies from the city to the", " river", (" home", " river", " dog"), "place", "en"),
]


@pytest.fixture(scope="module")
def model(tiny_tokenizer):
    return make_tiny_llama(tiny_tokenizer, head_scale=1.0, n_heads=2, n_kv_heads=1)


class UnigramLM(nn.Module):
    """Ignores its context: the logits at every position are one fixed vector (a trivially biased LM)."""

    def __init__(self, bias: torch.Tensor):
        super().__init__()
        self.bias = nn.Parameter(bias.clone())

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.bias.expand(*input_ids.shape, -1))


def test_encoding_mirrors_training_documents(tiny_tokenizer):
    tok = tiny_tokenizer
    ctx, cont = encode_continuation(tok, "The teacher lives in", " Moscow.")
    assert ctx[0] == tok.bos_token_id  # documents are packed as <s> text </s>
    assert ctx[1:] == tok("The teacher lives in", add_special_tokens=False)["input_ids"]
    assert ctx[1:] + cont == tok("The teacher lives in Moscow.", add_special_tokens=False)["input_ids"]
    assert tok.eos_token_id not in cont


def test_logprob_equals_a_plain_forward_pass(model, tiny_tokenizer):
    tok = tiny_tokenizer
    df = score_cloze(model, tok, ITEMS, batch_size=2)  # batches of unequal lengths: padding is exercised
    for row, item in zip(df.itertuples(), ITEMS, strict=True):
        for cand in item.candidates:
            prompt_ids = tok(item.prompt, add_special_tokens=False)["input_ids"]
            full = [tok.bos_token_id, *tok(item.prompt + cand, add_special_tokens=False)["input_ids"]]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([full])).logits[0].float(), -1)
            ref = sum(logp[t - 1, full[t]].item() for t in range(1 + len(prompt_ids), len(full)))
            assert row.logprobs[cand] == pytest.approx(ref, abs=1e-4)
        assert row.predicted == max(item.candidates, key=row.logprobs.get)
    one_batch = score_cloze(model, tok, ITEMS, batch_size=32)
    assert list(one_batch["logprob_answer"]) == pytest.approx(list(df["logprob_answer"]), abs=1e-4)


def test_scoring_restores_training_mode(model, tiny_tokenizer):
    model.train()
    try:
        score_cloze(model, tiny_tokenizer, ITEMS[:1])
        assert model.training
    finally:
        model.eval()


def test_a_biased_model_picks_its_favourite(tiny_tokenizer):
    tok = tiny_tokenizer
    bias = torch.zeros(len(tok))
    for item in ITEMS:  # make every token of each answer's continuation very likely
        bias[encode_continuation(tok, item.prompt, item.answer)[1]] = 8.0
    df = score_cloze(UnigramLM(bias), tok, ITEMS)
    logp = torch.log_softmax(bias, -1)
    assert df["correct"].all() and (df["rank"] == 1).all()
    assert (df["predicted"] == df["answer"]).all()
    for row, item in zip(df.itertuples(), ITEMS, strict=True):
        ids = encode_continuation(tok, item.prompt, item.answer)[1]
        assert row.logprob_answer == pytest.approx(sum(logp[i].item() for i in ids), abs=1e-5)
        assert row.answer_tokens == len(ids)
    assert list(df["chance"]) == pytest.approx([1 / 3, 1 / 2, 1 / 3])
    assert list(df["lang"]) == ["en", "ru", "en"]


def test_ties_count_as_wrong(tiny_tokenizer):
    """A uniform model gives equal-length candidates equal scores: no credit by position."""
    item = ClozeItem("The word city has", " four", (" four", " five"), "x", "en")
    tok = tiny_tokenizer
    assert len(encode_continuation(tok, item.prompt, " four")[1]) == len(
        encode_continuation(tok, item.prompt, " five")[1]
    )
    df = score_cloze(UnigramLM(torch.zeros(len(tok))), tok, [item])
    assert not df.loc[0, "correct"] and df.loc[0, "rank"] == 2


def test_answer_must_be_a_candidate(model, tiny_tokenizer):
    bad = ClozeItem("The teacher lives in", " Paris.", (" Moscow.", " Rome."), "city", "en")
    with pytest.raises(ValueError, match="exactly once"):
        score_cloze(model, tiny_tokenizer, [bad])


def test_summary_arithmetic_by_hand():
    df = pd.DataFrame(
        {
            "correct": [True, False, True, True],
            "chance": [0.5, 0.25, 0.5, 0.25],
            "lang": ["en", "en", "ru", "ru"],
            "relation": ["a", "b", "a", "b"],
        }
    )
    s = cloze_summary(df)
    assert s["n"] == 4 and s["accuracy"] == 0.75 and s["chance"] == 0.375 and s["ratio"] == 2.0
    # z = (3 - 1.5) / sqrt(2 * 0.25 + 2 * 0.1875)
    assert s["z"] == pytest.approx(1.5 / math.sqrt(0.875))
    # P(X >= 3) for Bernoulli(.5, .25, .5, .25): all four, or exactly one miss
    p_all = 0.5 * 0.25 * 0.5 * 0.25
    p_three = 2 * (0.5 * 0.25 * 0.5 * 0.75) + 2 * (0.5 * 0.25 * 0.5 * 0.25)
    assert s["p_value"] == pytest.approx(p_all + p_three)
    assert s["accuracy_en"] == 0.5 and s["chance_en"] == 0.375 and s["accuracy_ru"] == 1.0
    assert s["accuracy_ru_b"] == 1.0 and s["chance_en_b"] == 0.25


def test_poisson_binomial_matches_binomial():
    n, p = 20, 0.2
    for k in (0, 3, 7, 20):
        exact = sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))
        assert poisson_binomial_sf(k, [p] * n) == pytest.approx(exact)
    assert poisson_binomial_sf(21, [p] * n) == 0.0


def test_generate_samples_is_greedy_and_deterministic(model, tiny_tokenizer):
    prompts = ["The teacher lives in", "Учитель живёт в"]
    a = generate_samples(model, tiny_tokenizer, prompts, max_new_tokens=5, seed=0)
    b = generate_samples(model, tiny_tokenizer, prompts, max_new_tokens=5, seed=1)
    assert list(a.columns) == ["prompt", "completion", "new_tokens", "stopped"]
    assert list(a["prompt"]) == prompts and a.equals(b)
    assert (a["new_tokens"] <= 5).all()
    # greedy: the first new token is the argmax after [bos] + prompt
    ids = [tiny_tokenizer.bos_token_id, *tiny_tokenizer(prompts[0], add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        first = int(model(torch.tensor([ids])).logits[0, -1].argmax())
    assert a.loc[0, "completion"].startswith(tiny_tokenizer.decode([first], skip_special_tokens=True))
