"""RLHF policy optimisation with RLOO (REINFORCE Leave-One-Out) against the Bradley-Terry reward model.

Design
------
- **Why RLOO, not PPO.** The article's RLHF is InstructGPT's PPO (Schulman et al. 2017; Ouyang et al.
  2022). TRL 1.16 has no PPOTrainer at all (removed; not even under `trl.experimental`), and PPO needs a
  value network the size of the policy. RLOO (Kool et al. 2019; Ahmadian et al. 2024, "Back to Basics")
  keeps PPO's objective but replaces the learned value baseline by the mean reward of the *other* k−1
  answers sampled for the same prompt: for answers y_1..y_k of prompt x,
  `A_i = R_i − mean_{j≠i} R_j`. Ahmadian et al. show it matches or beats PPO on RLHF benchmarks with
  less memory and fewer hyper-parameters, which is also why it, not GRPO, is chosen here: GRPO divides
  by the group's reward std and puts the KL into the loss, RLOO is the KL-in-the-reward formulation the
  issue asks for.
- **Reward.** Sequence-level, with the KL penalty to the SFT policy inside it, exactly the RLHF reward
  `R(x, y) = RM(x, y) − β · Σ_t [log π(y_t | x, y_<t) − log π_SFT(y_t | x, y_<t)]`
  (TRL's RLOO computes it this way; `kl_penalized_reward` restates it so it can be tested by hand).
- **Reference without a copy.** As in DPO: the policy is the merged SFT model plus a fresh LoRA adapter,
  and π_SFT is the same model with the adapter disabled. At step 0 the adapter's B is zero, so the policy
  *is* the reference and the KL term is exactly 0 (a test checks the first logged `kl`).
- **Demonstrations in the loss (PPO-ptx).** InstructGPT's PPO-ptx adds γ · log-likelihood of other text
  to the RL objective (Ouyang et al. 2022, eq. 2) so that the policy keeps what it could already do.
  With `ptx_coef` > 0 each step adds `ptx_coef` × the mean per-token NLL of a few demonstrations (the
  preference pairs' chosen answers: the same anchor as DPO's `sft` term, RPO) to RLOO's loss; 0 is
  plain RLOO.
- **Logged per step** (`train/...`): `reward` (after the KL penalty), `rewards/<rm>/mean` (the reward
  model's score alone), `kl` (per token), `entropy`, `completions/mean_length`, `loss`, `num_tokens`,
  and `ptx_nll` with demonstrations.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from llm_lifecycle.chat_format import normalise_messages
from llm_lifecycle.training.alignment.trl_common import (
    TrainerSettings,
    TrainInputs,
    TrainResult,
    common_trainer_args,
    count_parameters,
    first_logged,
    last_logged,
    run_trainer,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)


class RLOOTrainerSettings(TrainerSettings):
    """`rlhf.policy.train` in parameters. `batch_size` counts completions: batch_size / k prompts a step."""

    beta: float = Field(0.05, ge=0, description="KL coefficient β of the reward RM − β·KL(π‖π_SFT)")
    num_generations: int = Field(4, ge=2, description="k answers per prompt (the leave-one-out group)")
    max_completion_length: int = Field(48, ge=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus of the samples (1: the full distribution)")
    lr: float = Field(1e-4, gt=0)
    eval_on_start: bool = False  # RLOO's evaluation generates; the node measures held-out reward itself
    ptx_coef: float = Field(0.0, ge=0, description="weight of the demonstrations' NLL in the loss (0: RLOO)")
    ptx_batch_size: int = Field(4, ge=1, description="demonstrations a step")

    @model_validator(mode="after")
    def _groups_fit_the_batch(self) -> RLOOTrainerSettings:
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"batch_size {self.batch_size} must be a multiple of num_generations {self.num_generations}"
            )
        return self


def kl_penalized_reward(
    rm_score: torch.Tensor, logp_policy: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor, beta: float
) -> torch.Tensor:
    """`RM(x, y) − β · Σ_t mask_t · (log π − log π_ref)`: shapes (B,), (B, T), (B, T), (B, T) -> (B,)."""
    return rm_score - beta * ((logp_policy - logp_ref) * mask).sum(-1)


def demonstration_ids(
    tokenizer: Any, conversations: Sequence[Sequence[Mapping[str, Any]]], max_length: int
) -> list[tuple[list[int], int]]:
    """Each conversation (ending on the assistant's answer) as (token ids with the chat template, number of
    prompt tokens before the answer), cut to `max_length` tokens; conversations with no answer token left
    are dropped."""
    out = []
    for conversation in conversations:
        messages = normalise_messages(conversation)
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError(f"demonstration must end on an assistant turn: {messages!r:.200}")
        prompt = tokenizer.apply_chat_template(
            messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        full = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        if full[: len(prompt)] != prompt:
            raise ValueError("the chat template renders the prompt differently once the answer follows")
        kept = list(full[:max_length])
        if len(kept) > len(prompt):
            out.append((kept, len(prompt)))
    return out


def demonstration_nll(model: Any, batch: Sequence[tuple[list[int], int]], pad_id: int) -> torch.Tensor:
    """Mean NLL per answer token of `batch` (from `demonstration_ids`) under `model`: a scalar with grad."""
    import torch
    import torch.nn.functional as F

    from llm_lifecycle.devices import to_model_device

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)  # (B, L): only answer tokens count
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (seq, n_prompt) in enumerate(batch):
        ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, n_prompt : len(seq)] = torch.tensor(seq[n_prompt:])
        mask[row, : len(seq)] = 1
    ids, labels, mask = (to_model_device(t, model) for t in (ids, labels, mask))
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # (B, L-1, V)
    return F.cross_entropy(logits.transpose(1, 2), labels[:, 1:], ignore_index=-100)


def _ptx_trainer(base: type) -> type:
    """`base` (TRL's RLOOTrainer) with `ptx_coef` × `demonstration_nll` of the next demonstrations added
    to each training step's loss. Demonstrations are visited in a seeded order, cycling."""
    import random

    class PtxRLOOTrainer(base):
        def __init__(
            self,
            *args: Any,
            demonstrations: list,
            ptx_coef: float,
            ptx_batch_size: int,
            seed: int,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.ptx_coef, self.ptx_batch_size = ptx_coef, ptx_batch_size
            self._demos, self._order, self._rng = demonstrations, [], random.Random(seed)

        def _next_demos(self) -> list:
            batch = []
            while len(batch) < self.ptx_batch_size:
                if not self._order:
                    self._order = self._rng.sample(range(len(self._demos)), len(self._demos))
                batch.append(self._demos[self._order.pop()])
            return batch

        def _compute_loss(self, model: Any, inputs: Any) -> Any:
            loss = super()._compute_loss(model, inputs)
            if self.ptx_coef and model.training:
                nll = demonstration_nll(model, self._next_demos(), self.processing_class.pad_token_id)
                self._metrics["train"]["ptx_nll"].append(nll.item())
                loss = loss + self.ptx_coef * nll
            return loss

    return PtxRLOOTrainer


def build_rloo_trainer(
    inputs: TrainInputs,
    reward_model: PreTrainedModel,
    cfg: RLOOTrainerSettings,
    output_dir: str,
    demonstrations: Sequence[Sequence[Mapping[str, Any]]] = (),
) -> Any:
    """`trl.RLOOTrainer`: the merged SFT model + a new LoRA adapter, rewarded by `reward_model`, on
    `inputs.train`: prompts, message lists ending on a user turn (no held-out set: the node measures
    held-out reward itself, `evaluate_policy`). With `cfg.ptx_coef` > 0, `demonstrations` (conversations
    ending on the answer to imitate) add their NLL to the loss."""
    import transformers
    from datasets import Dataset
    from peft import PeftModel
    from trl import RLOOConfig, RLOOTrainer

    model, tokenizer = inputs.model, inputs.tokenizer
    if isinstance(model, PeftModel):
        raise TypeError("RLOO expects a plain model: merge the SFT adapter first (trl_common.merge_adapter)")
    if not inputs.train:
        raise ValueError("RLOO: no prompts")
    common = common_trainer_args(cfg, output_dir, has_eval=False)
    common.pop("max_length")  # RLOO bounds the completion instead
    args = RLOOConfig(
        **common,
        beta=cfg.beta,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        disable_dropout=True,  # log-probs of policy, old policy and reference must agree on the same input
    )
    reward_model.eval()
    extra: dict[str, Any] = {}
    trainer_cls = RLOOTrainer
    if cfg.ptx_coef:
        demos = demonstration_ids(tokenizer, demonstrations, cfg.max_length)
        if not demos:
            raise ValueError(f"RLOO: ptx_coef {cfg.ptx_coef} but no demonstrations")
        trainer_cls = _ptx_trainer(RLOOTrainer)
        extra = {
            "demonstrations": demos,
            "ptx_coef": cfg.ptx_coef,
            "ptx_batch_size": cfg.ptx_batch_size,
            "seed": cfg.seed,
        }
    transformers.set_seed(cfg.seed)
    trainer = trainer_cls(
        model=model,
        reward_funcs=[reward_model],
        args=args,
        train_dataset=Dataset.from_list([{"prompt": normalise_messages(p)} for p in inputs.train]),
        processing_class=tokenizer,
        reward_processing_classes=[tokenizer],
        peft_config=cfg.lora.to_peft(model=model),
        **extra,
    )
    if trainer.ref_model is not None:
        raise RuntimeError("RLOO with LoRA must use the adapter-disabled policy as its reference")
    return trainer


def train_rloo(
    inputs: TrainInputs,
    reward_model: PreTrainedModel,
    cfg: RLOOTrainerSettings,
    output_dir: str,
    demonstrations: Sequence[Sequence[Mapping[str, Any]]] = (),
) -> TrainResult:
    """RLOO against `reward_model` on the prompts `inputs.train` (and `demonstrations` when
    `cfg.ptx_coef` > 0); returns the policy, history, summary."""
    trainer = build_rloo_trainer(inputs, reward_model, cfg, output_dir, demonstrations)
    params = count_parameters(trainer.model)
    logger.info(
        "RLOO: %d prompts, k=%d, beta=%g, %s, %d trainable of %d parameters",
        len(inputs.train),
        cfg.num_generations,
        cfg.beta,
        cfg.length,
        params["trainable_params"],
        params["total_params"],
    )
    peft_model, history, final, wall = run_trainer(trainer, False, cfg.eval_steps)
    reward_key = next((k for k in history if k.startswith("train/rewards/") and k.endswith("/mean")), None)
    summary: dict[str, Any] = {
        "n_prompts": len(inputs.train),
        "steps": trainer.state.global_step,
        "wall_s": wall,
        "tokens_seen": last_logged(history, "train/num_tokens"),
        "reward_first": first_logged(history, "train/reward"),
        "reward_last": last_logged(history, "train/reward"),
        "rm_score_first": first_logged(history, reward_key) if reward_key else None,
        "rm_score_last": last_logged(history, reward_key) if reward_key else None,
        "kl_first": first_logged(history, "train/kl"),
        "kl_last": last_logged(history, "train/kl"),
        "entropy_last": last_logged(history, "train/entropy"),
        "completion_length_last": last_logged(history, "train/completions/mean_length"),
        "ptx_nll_first": first_logged(history, "train/ptx_nll"),
        "ptx_nll_last": last_logged(history, "train/ptx_nll"),
        "train_runtime_s": final.get("train_runtime"),
        **params,
    }
    return TrainResult(model=peft_model, history=history, summary=summary, trainer=trainer)


def evaluate_policy(
    peft_model: Any,
    tokenizer: Any,
    reward_model: Any,
    prompts: Sequence[Sequence[Mapping[str, Any]]],
    cfg: RLOOTrainerSettings,
) -> dict[str, float]:
    """The RLHF objective on held-out prompts, for the policy and for its reference (adapter disabled).

    One answer per prompt (at most `cfg.max_completion_length` tokens, temperature 1 as in training)
    is sampled from each; the reward model scores both; the policy's sequence KL is the k1 estimate on
    its own sample. Returns `rm_policy`, `rm_reference`, `kl_seq` and `objective` (mean of
    `kl_penalized_reward` with `cfg.beta` for the policy).

    Each model samples all its answers from its own stream seeded with `cfg.seed` (common random
    numbers): the reference's answers do not depend on the policy, so `rm_reference` is the same for
    every policy trained from one SFT model, and a policy equal to its reference gives the same answers.
    """
    import torch

    from llm_lifecycle.training.alignment.policy_checks import policy_and_reference_logps, sample_answer
    from llm_lifecycle.training.alignment.reward import score_conversations

    if not prompts:
        return {}
    peft_model.eval()
    state = torch.random.get_rng_state()
    answers: dict[str, list[str]] = {"policy": [], "reference": []}
    kls = []  # (log π, log π_ref) of the policy's own sample, each (1, T)
    try:
        torch.manual_seed(cfg.seed)
        for messages in prompts:
            out, n_answer = sample_answer(peft_model, tokenizer, messages, cfg.max_completion_length)
            answers["policy"].append(
                tokenizer.decode(out[0, out.shape[1] - n_answer :], skip_special_tokens=True)
            )
            logp, logp_ref = (
                policy_and_reference_logps(peft_model, out, n_answer) if n_answer else (torch.zeros(0),) * 2
            )
            kls.append((logp[None], logp_ref[None]))
        torch.manual_seed(cfg.seed)  # the reference's own stream, seeded alike
        with peft_model.disable_adapter():
            for messages in prompts:
                out, n_answer = sample_answer(peft_model, tokenizer, messages, cfg.max_completion_length)
                answers["reference"].append(
                    tokenizer.decode(out[0, out.shape[1] - n_answer :], skip_special_tokens=True)
                )
    finally:
        torch.random.set_rng_state(state)
    scored = {
        who: score_conversations(
            reward_model,
            tokenizer,
            [
                normalise_messages(p) + [{"role": "assistant", "content": a}]
                for p, a in zip(prompts, ans, strict=True)
            ],
        )
        for who, ans in answers.items()
    }
    objective = [
        float(kl_penalized_reward(torch.tensor([r]), lp, lr, torch.ones_like(lp), cfg.beta)[0])
        for r, (lp, lr) in zip(scored["policy"], kls, strict=True)
    ]
    kl_seq = [float((lp - lr).sum()) for lp, lr in kls]
    n = len(prompts)
    return {
        "rm_policy": sum(scored["policy"]) / n,
        "rm_reference": sum(scored["reference"]) / n,
        "kl_seq": sum(kl_seq) / n,
        "objective": sum(objective) / n,
        "n": float(n),
    }
