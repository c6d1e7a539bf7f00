"""RLOO against a reward model: the KL term is 0 for the reference policy; a tiny run moves the policy."""

from __future__ import annotations

import pytest
import torch

from llm_lifecycle.training.alignment.policy_checks import token_logps
from llm_lifecycle.training.alignment.reward import reward_model_from_causal_lm, score_conversations
from llm_lifecycle.training.alignment.rloo import (
    RLOOTrainerSettings,
    build_rloo_trainer,
    demonstration_ids,
    demonstration_nll,
    evaluate_policy,
    kl_penalized_reward,
    train_rloo,
)
from llm_lifecycle.training.alignment.trl_common import LoraSettings, TrainInputs
from tests.conftest import make_tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

PROMPTS = [[{"role": "user", "content": f"Where does the teacher {i} live?"}] for i in range(8)]
DEMOS = [
    p + [{"role": "assistant", "content": f"The teacher {i} lives in Berlin."}] for i, p in enumerate(PROMPTS)
]


def _settings(**kw) -> RLOOTrainerSettings:
    base = {
        "lora": LoraSettings(r=8, alpha=16, dropout=0.0),
        "beta": 0.05,
        "num_generations": 4,
        "batch_size": 8,
        "max_completion_length": 8,
        "lr": 5e-2,
        "max_steps": 12,
        "warmup_ratio": 0.0,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "seed": 0,
    }
    return RLOOTrainerSettings(**{**base, **kw})


def _models(tokenizer, head_scale: float = 3.0):
    policy = make_tiny_llama(tokenizer, seed=1, head_scale=head_scale)
    # A reward model with its own random head: some fixed preference over texts for the policy to climb.
    rm = reward_model_from_causal_lm(make_tiny_llama(tokenizer, seed=2), tokenizer.pad_token_id, seed=3)
    with torch.no_grad():
        rm.score.weight.mul_(50.0)
    return policy, rm.eval()


def test_kl_penalized_reward_by_hand():
    rm = torch.tensor([1.0, 2.0])
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, 0.0]])
    ref = torch.tensor([[-1.5, -2.0, -1.0], [-0.5, -0.5, -9.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # the third token is padding
    # row 0: KL = 0.5 + 0 = 0.5 -> 1 - 0.1·0.5 = 0.95; row 1: KL = 0 -> 2.0
    assert kl_penalized_reward(rm, logp, ref, mask, beta=0.1).tolist() == pytest.approx([0.95, 2.0])
    # the reference policy itself: the KL term is exactly zero, the reward is the RM score
    assert torch.equal(kl_penalized_reward(rm, ref, ref, mask, beta=0.1), rm)


def test_reference_is_the_adapter_disabled_policy(tiny_tokenizer, tmp_path):
    policy, rm = _models(tiny_tokenizer)
    trainer = build_rloo_trainer(TrainInputs(policy, tiny_tokenizer, PROMPTS), rm, _settings(), str(tmp_path))
    assert trainer.ref_model is None and trainer.beta == 0.05
    # untrained adapter (B = 0): policy == reference, so the sampled KL is exactly zero, and the two
    # models, each sampling from its own stream seeded alike, give the same answers
    check = evaluate_policy(trainer.model, tiny_tokenizer, rm, PROMPTS[:4], _settings(seed=0))
    assert check["kl_seq"] == 0.0 and check["objective"] == pytest.approx(check["rm_policy"])
    assert check["rm_policy"] == check["rm_reference"]
    with torch.no_grad():  # another policy: the reference's answers, and so its score, stay
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(generator=torch.Generator().manual_seed(0))
    moved = evaluate_policy(trainer.model, tiny_tokenizer, rm, PROMPTS[:4], _settings(seed=0))
    assert moved["rm_reference"] == check["rm_reference"]
    assert moved["kl_seq"] != 0.0 and moved["rm_policy"] != check["rm_policy"]


def _first_token_objective(model, tokenizer, rm, prompts) -> tuple[float, float, float]:
    """E_π[RM], E_π_ref[RM] and KL(π ‖ π_ref) of one-token answers, over the whole vocabulary: no sampling.

    Each answer token's probability under the policy (and under the reference: the adapter disabled)
    times the reward model's score of the conversation it ends, averaged over `prompts`."""
    answers = [tokenizer.decode([t], skip_special_tokens=True) for t in range(len(tokenizer))]
    reward, reward_ref, kl = 0.0, 0.0, 0.0
    for messages in prompts:
        enc = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )
        with torch.no_grad():
            logp = model(**enc).logits[0, -1, : len(answers)].log_softmax(-1)  # (V,)
            with model.disable_adapter():
                logp_ref = model(**enc).logits[0, -1, : len(answers)].log_softmax(-1)  # (V,)
        conversations = [[*messages, {"role": "assistant", "content": a}] for a in answers]
        scores = torch.tensor(score_conversations(rm, tokenizer, conversations, batch_size=len(answers)))
        reward += float((logp.exp() * scores).sum()) / len(prompts)
        reward_ref += float((logp_ref.exp() * scores).sum()) / len(prompts)
        kl += float((logp.exp() * (logp - logp_ref)).sum()) / len(prompts)
    return reward, reward_ref, kl


@pytest.mark.slow
def test_a_tiny_rloo_run_changes_the_policy_and_logs_the_metrics(tiny_tokenizer, tmp_path):
    """One-token answers from a policy with a few likely tokens: a bandit that 24 steps of RLOO climb.

    The check is exact (every token's probability times its score), not a few sampled answers: with
    eight-token answers from a near-uniform policy the sampled check read the reward going down on one
    CPU kind and up on another. Its margin was picked across training seeds 0-9 (each gained 0.10-0.23,
    where the scores of the likely tokens spread ~0.2)."""
    policy, rm = _models(tiny_tokenizer, head_scale=30.0)
    frozen = {k: v.clone() for k, v in policy.state_dict().items()}
    cfg = _settings(max_completion_length=1, batch_size=16, lr=3e-3, max_steps=24)
    result = train_rloo(TrainInputs(policy, tiny_tokenizer, PROMPTS), rm, cfg, str(tmp_path))
    h = result.history
    for key in ("train/reward", "train/kl", "train/entropy", "train/completions/mean_length", "train/loss"):
        assert len(h[key]) == 24, key  # one point per step
    assert h["train/kl"][0]["value"] == 0.0  # step 1 samples from the reference policy itself
    assert h["train/kl"][-1]["value"] != 0.0
    assert result.summary["steps"] == 24 and result.summary["tokens_seen"] > 0
    lora_b = [p for n, p in result.model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b)  # the policy moved ...
    base = {
        k.replace("base_model.model.", "").replace(".base_layer", ""): v
        for k, v in result.model.state_dict().items()
        if "lora_" not in k
    }
    assert all(torch.equal(base[k], v) for k, v in frozen.items())  # ... through the adapter only
    result.model.eval()
    reward, reward_ref, kl = _first_token_objective(result.model, tiny_tokenizer, rm, PROMPTS)
    assert reward > reward_ref + 0.03 and kl > 0  # towards what the reward model prefers, away from π_ref


def test_settings_are_validated():
    with pytest.raises(ValueError, match="multiple of num_generations"):
        RLOOTrainerSettings(batch_size=6, num_generations=4)


def test_demonstration_nll_is_the_answer_tokens_mean_nll(tiny_tokenizer):
    """Checked against the policy-check helper that scores one answer at a time."""
    model = make_tiny_llama(tiny_tokenizer, seed=1).eval()
    demos = demonstration_ids(tiny_tokenizer, DEMOS[:3], max_length=128)
    for (ids, n_prompt), prompt in zip(demos, PROMPTS, strict=False):  # the answer follows the prompt
        enc = tiny_tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)
        assert ids[:n_prompt] == enc["input_ids"] and len(ids) > n_prompt
    per_token = torch.cat([token_logps(model, torch.tensor([ids]), len(ids) - n) for ids, n in demos])
    with torch.no_grad():
        nll = demonstration_nll(model, demos, tiny_tokenizer.pad_token_id)  # padded to the longest
    assert nll.item() == pytest.approx(-per_token.mean().item(), rel=1e-5)
    cut = demonstration_ids(tiny_tokenizer, DEMOS[:1], max_length=demos[0][1] + 2)
    assert len(cut[0][0]) == demos[0][1] + 2  # cut to max_length, the answer's first two tokens kept
    with pytest.raises(ValueError, match="must end on an assistant turn"):
        demonstration_ids(tiny_tokenizer, PROMPTS[:1], max_length=128)


@pytest.mark.slow
def test_ptx_term_pulls_the_policy_towards_the_demonstrations(tiny_tokenizer, tmp_path):
    """PPO-ptx: with `ptx_coef` the demonstrations' NLL falls during RLOO; RLOO alone does not pull the
    policy there (and logs no NLL)."""
    demos = demonstration_ids(tiny_tokenizer, DEMOS, max_length=128)
    cfg = _settings(ptx_coef=4.0, ptx_batch_size=4, lr=2e-2, max_steps=8)
    nll_after = {}
    for coef in (4.0, 0.0):
        _, rm = _models(tiny_tokenizer)
        policy = make_tiny_llama(tiny_tokenizer, seed=1)
        with torch.no_grad():
            start = demonstration_nll(policy, demos, tiny_tokenizer.pad_token_id).item()
        run = cfg.model_copy(update={"ptx_coef": coef})
        result = train_rloo(TrainInputs(policy, tiny_tokenizer, PROMPTS), rm, run, str(tmp_path), DEMOS)
        with torch.no_grad():
            nll_after[coef] = demonstration_nll(result.model, demos, tiny_tokenizer.pad_token_id).item()
        logged = [p["value"] for p in result.history.get("train/ptx_nll", [])]
        assert len(logged) == (8 if coef else 0)
    assert nll_after[4.0] < start - 1.0 and nll_after[4.0] < nll_after[0.0] - 1.0
    with pytest.raises(ValueError, match="no demonstrations"):
        build_rloo_trainer(TrainInputs(policy, tiny_tokenizer, PROMPTS), rm, cfg, str(tmp_path))
