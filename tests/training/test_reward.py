"""Bradley-Terry reward model: the loss by hand, TRL's loss is the same, a separable toy set is learned."""

from __future__ import annotations

import math

import pytest
import torch

from llm_lifecycle.training.alignment.preferences import preference_pair
from llm_lifecycle.training.alignment.reward import (
    RewardTrainerSettings,
    bradley_terry_loss,
    build_reward_trainer,
    margin_summary,
    off_topic_pairs,
    pair_report,
    reward_model_from_causal_lm,
    score_conversations,
    train_reward_model,
)
from llm_lifecycle.training.alignment.trl_common import LoraSettings, TrainInputs, merge_adapter
from tests.conftest import make_tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

# Trivially separable: the chosen answer always names the city, the rejected one always the dog.
QUESTIONS = [f"Question {i}: where does the teacher live?" for i in range(12)]
CHOSEN = "The teacher lives in Moscow."
REJECTED = "The dog waits at home."


def _pairs(n: int) -> list[dict]:
    return [preference_pair([{"role": "human", "content": q}], CHOSEN, REJECTED) for q in QUESTIONS[:n]]


def _settings(**kw) -> RewardTrainerSettings:
    base = {
        "lora": LoraSettings(r=8, alpha=16, dropout=0.0),
        "batch_size": 4,
        "lr": 5e-3,
        "max_steps": 20,
        "max_length": 128,
        "warmup_ratio": 0.0,
        "lr_scheduler_type": "constant",
        "eval_steps": 10,
        "logging_steps": 1,
        "seed": 0,
    }
    return RewardTrainerSettings(**{**base, **kw})


def test_bradley_terry_loss_by_hand():
    # -log σ(2 - 0) = log(1 + e^-2) = 0.126928; -log σ(0 - 1) = log(1 + e^1) = 1.313262
    loss = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert float(loss) == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2, abs=1e-6)
    assert float(loss) == pytest.approx((0.126928 + 1.313262) / 2, abs=1e-6)
    # only the difference matters: shifting both rewards leaves the loss unchanged
    shifted = bradley_terry_loss(torch.tensor([7.0, 5.0]), torch.tensor([5.0, 6.0]))
    assert float(shifted) == pytest.approx(float(loss), abs=1e-6)


def test_reward_model_copies_the_backbone_and_adds_a_score_head(tiny_tokenizer):
    lm = make_tiny_llama(tiny_tokenizer, seed=1, head_scale=1.0)
    rm = reward_model_from_causal_lm(lm, tiny_tokenizer.pad_token_id, seed=0)
    assert rm.config.num_labels == 1 and rm.score.weight.shape == (1, lm.config.hidden_size)
    assert torch.equal(rm.model.embed_tokens.weight, lm.model.embed_tokens.weight)
    assert torch.equal(rm.model.layers[1].mlp.down_proj.weight, lm.model.layers[1].mlp.down_proj.weight)
    # the score is read at the last non-pad token: padding a batch does not change a conversation's reward
    convs = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": CHOSEN}]]
    longer = [[{"role": "user", "content": QUESTIONS[0]}, {"role": "assistant", "content": REJECTED * 2}]]
    alone = score_conversations(rm, tiny_tokenizer, convs)
    batched = score_conversations(rm, tiny_tokenizer, convs + longer)
    assert batched[0] == pytest.approx(alone[0], abs=1e-5)


def test_trl_reward_trainer_computes_the_bradley_terry_loss(tiny_tokenizer, tmp_path):
    rm = reward_model_from_causal_lm(make_tiny_llama(tiny_tokenizer, seed=1), tiny_tokenizer.pad_token_id, 0)
    trainer = build_reward_trainer(TrainInputs(rm, tiny_tokenizer, _pairs(4)), _settings(), str(tmp_path))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
        rewards = trainer.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    r_chosen, r_rejected = rewards[:4, 0], rewards[4:, 0]  # the collator stacks chosen, then rejected
    assert float(loss) == pytest.approx(float(bradley_terry_loss(r_chosen, r_rejected)), abs=1e-6)


@pytest.mark.slow
def test_reward_model_ranks_a_separable_pair_set_after_training(tiny_tokenizer, tmp_path):
    lm = make_tiny_llama(tiny_tokenizer, seed=1, head_scale=1.0)
    frozen = {k: v.clone() for k, v in lm.state_dict().items()}
    rm = reward_model_from_causal_lm(lm, tiny_tokenizer.pad_token_id, seed=0)
    train, held_out = _pairs(12)[:8], _pairs(12)[8:]
    before = margin_summary(pair_report(rm, tiny_tokenizer, held_out))
    result = train_reward_model(TrainInputs(rm, tiny_tokenizer, train, held_out), _settings(), str(tmp_path))
    merged = merge_adapter(result.model)
    after = margin_summary(pair_report(merged, tiny_tokenizer, held_out))
    assert after["accuracy"] == 1.0 and after["margin_q1"] > 0
    assert after["margin_mean"] > before["margin_mean"] + 1.0
    losses = [p["value"] for p in result.history["train/loss"]]
    assert losses[-1] < losses[0]
    assert result.history["eval/accuracy"][-1]["value"] == 1.0  # TRL's own metric agrees
    # LoRA: the causal LM the reward model was copied from is untouched
    assert all(torch.equal(v, lm.state_dict()[k]) for k, v in frozen.items())
    assert type(merged).__name__ == "LlamaForSequenceClassification"


def test_margin_summary_by_hand():
    rows = [{"margin": m} for m in (-1.0, 0.5, 2.0, 2.5)]
    s = margin_summary(rows)
    assert s["accuracy"] == 0.75 and s["margin_mean"] == 1.0 and s["n"] == 4
    assert margin_summary([]) == {}


def test_settings_are_validated():
    with pytest.raises(ValueError, match="lr"):
        RewardTrainerSettings(lr=0)


def _two_topic_pairs() -> list[dict]:
    """Two kinds of question, each with its own right answer; the rejected answer is the same dodge."""
    city = "The teacher lives in Moscow."
    dog = "The dog waits at home."
    pairs = []
    for i in range(6):
        for question, answer, category in (
            (f"Question {i}: where does the teacher live?", city, "qa"),
            (f"Question {i}: what does the dog do?", dog, "roleplay"),
        ):
            pairs.append(
                preference_pair(
                    [{"role": "user", "content": question}], answer, "I do not know.", category=category
                )
            )
    return pairs


def test_off_topic_pairs_take_the_rejected_answer_from_another_category():
    pairs = _two_topic_pairs()
    out = off_topic_pairs(pairs, 1.0, seed=0)
    assert len(out) == len(pairs)
    for pair, extra in zip(pairs, out, strict=True):
        assert extra["prompt"] == pair["prompt"] and extra["chosen"] == pair["chosen"]
        assert extra["rejected"] != pair["chosen"]
        # the answer of the other kind of question, never a dodge (that is what the pair already has)
        assert extra["rejected"][0]["content"] in {"The teacher lives in Moscow.", "The dog waits at home."}
    assert off_topic_pairs(pairs, 1.0, seed=0) == out  # deterministic
    assert off_topic_pairs(pairs, 0.0, seed=0) == []
    assert 0 < len(off_topic_pairs(pairs, 0.5, seed=3)) < len(pairs)
    # one category only: no answer is known to be off-topic, nothing is added
    assert off_topic_pairs([p | {"category": "qa"} for p in pairs], 1.0, seed=0) == []


def test_with_off_topic_pairs_the_reward_depends_on_the_question(tiny_tokenizer, tmp_path):
    """A score that ignored the prompt could not rank each answer first under its own question only."""
    lm = make_tiny_llama(tiny_tokenizer, seed=0)
    rm = reward_model_from_causal_lm(lm, tiny_tokenizer.pad_token_id, seed=0)
    pairs = _two_topic_pairs()
    train = pairs + off_topic_pairs(pairs, 1.0, seed=0)
    result = train_reward_model(
        TrainInputs(rm, tiny_tokenizer, train, None),
        _settings(max_steps=60, eval_on_start=False),
        str(tmp_path),
    )
    merged = merge_adapter(result.model)
    swapped = off_topic_pairs(pairs, 1.0, seed=1)
    rows = pair_report(merged, tiny_tokenizer, swapped)
    assert all(r["correct"] for r in rows), [round(r["margin"], 3) for r in rows]
    assert all(r["correct"] for r in pair_report(merged, tiny_tokenizer, pairs))
