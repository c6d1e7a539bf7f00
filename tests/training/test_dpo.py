"""DPO with LoRA through TRL: the reference is the adapter-disabled model; chosen gains on rejected."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from transformers import TrainerCallback

from llm_lifecycle.training.alignment import dpo
from llm_lifecycle.training.alignment.dpo import DPOTrainerSettings, build_dpo_trainer, train_dpo
from llm_lifecycle.training.alignment.policy_checks import estimate_kl
from llm_lifecycle.training.alignment.preferences import check_pair, preference_pair
from llm_lifecycle.training.alignment.trl_common import LoraSettings, TrainInputs
from tests.conftest import make_tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

QUESTIONS = [
    "Where does the teacher live?",
    "Where does the pilot fly?",
    "Where is Moscow?",
    "What is seven plus five?",
]
CHOSEN = [
    "The teacher lives in Moscow.",
    "The pilot flies to the river.",
    "Moscow is a large city.",
    "Twelve.",
]
REJECTED = "The dog waits at home."  # one wrong answer for every question


def _pairs() -> list[dict]:
    return [
        preference_pair([{"role": "human", "content": q}], c, REJECTED)
        for q, c in zip(QUESTIONS, CHOSEN, strict=True)
    ]


def _tiny_model(tokenizer):
    return make_tiny_llama(tokenizer, seed=1, head_scale=1.0)


def _settings(**kw) -> DPOTrainerSettings:
    base = {
        "lora": LoraSettings(r=8, alpha=16, dropout=0.0),
        "beta": 0.1,
        "batch_size": 4,
        "lr": 1e-2,
        "max_steps": 10,
        "max_length": 128,
        "warmup_ratio": 0.0,
        "lr_scheduler_type": "constant",
        "eval_steps": 5,
        "logging_steps": 1,
        "seed": 0,
    }
    return DPOTrainerSettings(**{**base, **kw})


def _answer_logp(model, tokenizer, pair: dict, key: str) -> float:
    """log π(answer | prompt) summed over the answer's tokens, as DPO scores it."""
    prompt = tokenizer.apply_chat_template(
        pair["prompt"], add_generation_prompt=True, tokenize=True, return_dict=True
    )["input_ids"]
    full = tokenizer.apply_chat_template(pair["prompt"] + pair[key], tokenize=True, return_dict=True)[
        "input_ids"
    ]
    ids = torch.tensor([full])
    with torch.no_grad():
        logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
    targets = ids[0, 1:]
    token_logps = logps.gather(-1, targets[:, None])[:, 0]
    return float(token_logps[len(prompt) - 1 :].sum())


def _margin(model, tokenizer, pairs) -> float:
    return sum(
        _answer_logp(model, tokenizer, p, "chosen") - _answer_logp(model, tokenizer, p, "rejected")
        for p in pairs
    ) / len(pairs)


def _batch_logps(model, batch) -> torch.Tensor:
    """Σ log π(token | prefix) over each row's answer tokens in a collated batch (chosen rows, then rejected).

    Logits at position t predict token t + 1, so the answer mask is shifted by one; padding (right, masked
    out of attention) is outside the answer mask."""
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps = torch.log_softmax(logits[:, :-1], dim=-1)
    token_logps = logps.gather(-1, batch["input_ids"][:, 1:, None])[..., 0]
    return (token_logps * batch["completion_mask"][:, 1:]).sum(-1)


def _log_ratio_differences(policy, batch) -> list[float]:
    """Per pair (π_c - ref_c) - (π_r - ref_r); the reference is the policy with its adapter disabled."""
    pi = _batch_logps(policy, batch)
    with policy.disable_adapter():
        ref = _batch_logps(policy, batch)
    chosen, rejected = (pi - ref).chunk(2)
    return (chosen - rejected).tolist()


def _sigmoid_loss(deltas: list[float], beta: float) -> float:
    """DPO's loss, mean over pairs of -log σ(β·Δ) = log(1 + e^(-β·Δ))."""
    return sum(math.log1p(math.exp(-beta * d)) for d in deltas) / len(deltas)


def test_trl_dpo_loss_equals_the_sigmoid_loss_by_hand(tiny_tokenizer, tmp_path):
    pairs, beta = _pairs(), 0.5  # not the default 0.1: the setting must reach the trainer
    # head_scale 10 (a usable LM head): the random adapter below moves log-probs by nats, not hundredths
    model = make_tiny_llama(tiny_tokenizer, seed=1)
    trainer = build_dpo_trainer(
        TrainInputs(model, tiny_tokenizer, pairs), _settings(beta=beta), str(tmp_path)
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    policy = trainer.model
    policy.eval()  # no dropout; compute_loss logs its metrics under "eval"
    # the batch is [chosen 0..3; rejected 0..3], the answer mask covers the bot's text and its </s>
    answer = batch["input_ids"][0][batch["completion_mask"][0].bool()]
    assert tiny_tokenizer.decode(answer).startswith("The teacher lives in Moscow.</s>")
    answer = batch["input_ids"][4][batch["completion_mask"][4].bool()]
    assert tiny_tokenizer.decode(answer).startswith(REJECTED + "</s>")
    # and its sums are the answer log-probabilities of the chat template, tokenised apart from TRL
    logps = _batch_logps(policy, batch)
    assert float(logps[1]) == pytest.approx(
        _answer_logp(policy, tiny_tokenizer, pairs[1], "chosen"), abs=1e-4
    )
    assert float(logps[5]) == pytest.approx(
        _answer_logp(policy, tiny_tokenizer, pairs[1], "rejected"), abs=1e-4
    )

    # fresh adapter, B = 0: policy == reference, every Δ is 0 and the loss is log 2 = 0.693147
    with torch.no_grad():
        loss = float(trainer.compute_loss(policy, batch))
    deltas = _log_ratio_differences(policy, batch)
    assert max(abs(d) for d in deltas) < 1e-5
    assert loss == pytest.approx(math.log(2), abs=1e-6)

    # random B: the policy now differs from the reference, by a different amount on each answer
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.3)
        loss = float(trainer.compute_loss(policy, batch))
    deltas = _log_ratio_differences(policy, batch)
    # Δ ≈ (8.7, -1.1, 7.4, 7.1) nats: the loss by hand is 0.265, far from log 2 = 0.693; with chosen and
    # rejected swapped, -log σ(-β·Δ), it would be 3.043, with the default β = 0.1 it would be 0.471
    assert min(deltas) < 0 < max(deltas) and max(deltas) > 5
    by_hand = _sigmoid_loss(deltas, beta)
    assert by_hand < math.log(2) - 0.3
    assert _sigmoid_loss([-d for d in deltas], beta) > by_hand + 2
    assert _sigmoid_loss(deltas, 0.1) > by_hand + 0.1
    # fp32 sums of ~10 token log-probs: |error| ~1e-6 nats, times β
    assert loss == pytest.approx(by_hand, abs=1e-5)
    # the logged implicit-reward margin of that batch is β · mean(Δ)
    logged = trainer._metrics["eval"]["rewards/margins"][-1]
    assert logged == pytest.approx(beta * sum(deltas) / len(deltas), abs=1e-5)


class _AdapterSnapshots(TrainerCallback):
    """The LoRA weights at the start of every optimizer step: the state that step's logged metrics saw."""

    def __init__(self) -> None:
        self.at_step: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
        self.at_step[state.global_step + 1] = lora  # logged under the step number after the update


def test_reference_is_the_adapter_disabled_model(tiny_tokenizer, tmp_path):
    model = _tiny_model(tiny_tokenizer)
    trainer = build_dpo_trainer(TrainInputs(model, tiny_tokenizer, _pairs()), _settings(), str(tmp_path))
    assert trainer.ref_model is None  # no second copy of the weights
    n_weights = sum(p.numel() for p in trainer.model.parameters())
    n_base = sum(p.numel() for n, p in trainer.model.named_parameters() if "lora_" not in n)
    assert n_base == sum(p.numel() for p in _tiny_model(tiny_tokenizer).parameters())
    assert n_weights - n_base == sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    row = trainer.train_dataset[0]
    assert tiny_tokenizer.decode(row["chosen_ids"]).startswith("The teacher lives in Moscow.</s>")
    assert tiny_tokenizer.decode(row["prompt_ids"]).endswith("<s>bot\n")


def test_dpo_moves_chosen_above_rejected_with_base_frozen(tiny_tokenizer, tmp_path, monkeypatch):
    model = _tiny_model(tiny_tokenizer)
    pairs = _pairs()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    margin_before = _margin(model, tiny_tokenizer, pairs)
    snapshots = _AdapterSnapshots()
    run_trainer = dpo.run_trainer

    def run_with_snapshots(trainer, *args):
        trainer.add_callback(snapshots)
        return run_trainer(trainer, *args)

    monkeypatch.setattr(dpo, "run_trainer", run_with_snapshots)

    result = train_dpo(TrainInputs(model, tiny_tokenizer, pairs, pairs[:2]), _settings(), str(tmp_path))
    policy = result.model
    h = result.history

    for name in (
        "train/loss",
        "train/rewards/chosen",
        "train/rewards/rejected",
        "train/rewards/margins",
        "train/rewards/accuracies",
        "train/logps/chosen",
        "train/logps/rejected",
        "eval/loss",
        "eval/rewards/margins",
        "eval/rewards/accuracies",
    ):
        assert name in h, name
    margins = [p["value"] for p in h["train/rewards/margins"]]
    assert margins[0] == pytest.approx(0.0, abs=1e-6)  # step 1: adapter B = 0, policy == reference
    assert margins[-1] > 0.05 and margins[-1] > max(margins[:3])
    assert h["train/rewards/accuracies"][-1]["value"] == 1.0
    assert h["eval/rewards/margins"][-1]["value"] > h["eval/rewards/margins"][0]["value"]
    losses = [p["value"] for p in h["train/loss"]]
    assert losses[0] == pytest.approx(0.6931, abs=1e-3) and losses[-1] < losses[0]  # log 2 at the start
    assert result.summary["ref_model_is_none"] is True
    assert result.summary["train/rewards/margins_last"] == margins[-1]

    # policy log-prob of chosen rises relative to rejected; the reference (adapter off) is unchanged
    policy.eval()
    margin_after = _margin(policy, tiny_tokenizer, pairs)
    with policy.disable_adapter():
        margin_reference = _margin(policy, tiny_tokenizer, pairs)
    assert margin_reference == pytest.approx(margin_before, abs=1e-4)
    assert margin_after > margin_before + 0.5
    # The logged margin is the implicit reward β · (policy margin - reference margin), mean over the batch; a
    # batch is the whole set of 4 pairs. Each step logs what its forward saw, i.e. the adapter before that
    # step's update: reload each step's adapter and recompute on the same pairs. Only fp32 noise separates
    # the two (~5e-7: sums of ~10 token log-probs, times β), while one step moves the logged margin by
    # 0.02-0.1 (0 -> 0.56 over the 10 steps): the adapter one update off fails by far more than 1e-5.
    trainer = result.trainer
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    with policy.disable_adapter():
        ref_c, ref_r = _batch_logps(policy, batch).chunk(2)
    assert float((ref_c - ref_r).mean()) == pytest.approx(margin_reference, abs=1e-4)
    final = {n: p.detach().clone() for n, p in policy.named_parameters() if "lora_" in n}
    assert sorted(snapshots.at_step) == [p["step"] for p in h["train/rewards/margins"]] == list(range(1, 11))
    for point in h["train/rewards/margins"]:
        with torch.no_grad():
            for name, param in policy.named_parameters():
                if "lora_" in name:
                    param.copy_(snapshots.at_step[point["step"]][name])
        pi_c, pi_r = _batch_logps(policy, batch).chunk(2)
        at_step = 0.1 * float(((pi_c - ref_c) - (pi_r - ref_r)).mean())
        assert point["value"] == pytest.approx(at_step, abs=1e-5), point["step"]
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_" in name:
                param.copy_(final[name])

    base = policy.get_base_model()
    after = {n.replace(".base_layer", ""): p for n, p in base.named_parameters() if "lora_" not in n}
    assert after.keys() == before.keys()
    assert all(torch.equal(before[n], after[n]) for n in before), "base weights changed"

    # the policy moved away from the reference on its own samples: sampled KL > 0; seeded, repeatable
    prompts = [p["prompt"] for p in pairs]
    kl = estimate_kl(policy, tiny_tokenizer, prompts, max_new_tokens=12, seed=3)
    assert kl["n"] == len(prompts) and kl["kl_k3_per_token"] > 0 and kl["kl_seq"] > 0
    assert estimate_kl(policy, tiny_tokenizer, prompts, max_new_tokens=12, seed=3) == kl


def test_kl_estimate_is_zero_when_policy_equals_reference(tiny_tokenizer):
    from peft import get_peft_model

    fresh = get_peft_model(_tiny_model(tiny_tokenizer), _settings().lora.to_peft())  # B = 0: policy == ref
    kl = estimate_kl(fresh, tiny_tokenizer, [p["prompt"] for p in _pairs()], max_new_tokens=8, seed=0)
    assert kl["n"] == len(_pairs())
    assert kl["kl_seq"] == pytest.approx(0.0, abs=1e-5) and kl["kl_k3_per_token"] == pytest.approx(
        0.0, abs=1e-6
    )


def test_pairs_are_validated(tiny_tokenizer, tmp_path):
    good = _pairs()[0]
    assert check_pair(good) is None
    assert good["prompt"] == [{"role": "user", "content": QUESTIONS[0]}]
    assert check_pair({**good, "rejected": good["chosen"]}) == "chosen and rejected are identical"
    assert "user turn" in check_pair({**good, "prompt": good["prompt"] + good["chosen"]})
    assert "one non-empty assistant message" in check_pair(
        {**good, "chosen": [{"role": "user", "content": "x"}]}
    )
    with pytest.raises(ValueError, match="train pair 1: empty prompt"):
        inputs = TrainInputs(_tiny_model(tiny_tokenizer), tiny_tokenizer, [good, {**good, "prompt": []}])
        build_dpo_trainer(inputs, _settings(), str(tmp_path))


def test_refuses_an_unmerged_adapter(tiny_tokenizer, tmp_path):
    from peft import get_peft_model

    peft_model = get_peft_model(_tiny_model(tiny_tokenizer), LoraSettings(r=2).to_peft())
    with pytest.raises(TypeError, match="merge the SFT adapter"):
        build_dpo_trainer(TrainInputs(peft_model, tiny_tokenizer, _pairs()), _settings(), str(tmp_path))


def test_settings():
    s = DPOTrainerSettings()
    assert (s.beta, s.loss_type, s.lora.r) == (0.1, "sigmoid", 16)
    with pytest.raises(ValidationError):
        DPOTrainerSettings(max_prompt_length=64)
    rpo = DPOTrainerSettings(loss_type=["sigmoid", "sft"], loss_weights=[1.0, 0.5])
    assert rpo.loss_types == ["sigmoid", "sft"] and DPOTrainerSettings().loss_types == ["sigmoid"]
    with pytest.raises(ValidationError, match="one weight per loss_type"):
        DPOTrainerSettings(loss_type="sigmoid", loss_weights=[1.0, 1.0])


def test_length_grouped_batches_hold_pairs_of_similar_length(tiny_tokenizer, tmp_path):
    # 32 short and 32 long pairs, interleaved: random batches of 4 mix them, grouped ones mostly do not
    short = [preference_pair([{"role": "human", "content": "Where?"}], "Home.", "No.")] * 32
    long_q = "Where does the teacher live, and where does the pilot fly on the long river road?"
    long = [preference_pair([{"role": "human", "content": long_q}], CHOSEN[0] * 3, REJECTED * 3)] * 32
    pairs = [p for pair in zip(short, long, strict=True) for p in pair]

    def padding(sampling: str) -> tuple[float, int]:
        """(padding share of the epoch's rows, batches mixing short and long pairs)."""
        trainer = build_dpo_trainer(
            TrainInputs(_tiny_model(tiny_tokenizer), tiny_tokenizer, pairs, pairs[:4]),
            _settings(sampling=sampling),
            str(tmp_path / sampling),
        )
        rows = trainer.train_dataset
        if sampling == "group_by_length":  # the column the sampler sorts by: prompt + the longer answer
            assert rows["length"] == [
                len(r["prompt_ids"]) + max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in rows
            ]
            assert "length" in trainer.eval_dataset.column_names
        masks = [b["attention_mask"] for b in trainer.get_train_dataloader()]
        assert sum(len(m) for m in masks) == 2 * len(pairs)  # every pair, as two rows, once per epoch
        mixed = sum(len({int(n) > 40 for n in m.sum(1)}) > 1 for m in masks)  # rows: ~20 vs ~70 tokens
        return 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks), mixed

    (grouped, grouped_mixed), (shuffled, shuffled_mixed) = padding("group_by_length"), padding("random")
    # transformers sorts within megabatches of 4 batches here: at most one mixed batch in each
    assert grouped_mixed <= 4 < shuffled_mixed and grouped < 0.6 * shuffled
    result = train_dpo(
        TrainInputs(_tiny_model(tiny_tokenizer), tiny_tokenizer, pairs[:16], pairs[:4]),
        _settings(sampling="group_by_length", max_steps=4, eval_steps=2),
        str(tmp_path / "train"),
    )
    assert len(result.history["train/loss"]) == 4 and "eval/loss" in result.history
