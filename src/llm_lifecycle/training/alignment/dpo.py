"""Direct Preference Optimization (Rafailov et al. 2023) with a LoRA adapter on the merged SFT model.

Design
------
- **Loss.** For a prompt x with a chosen answer y_w and a rejected one y_l, DPO minimises
  `-log σ(β · [(log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))])` ("sigmoid"; TRL's
  other `loss_type`s such as "ipo" or "hinge" can be chosen). β (0.1 by default) sets how far the policy
  may move from the reference: the implicit reward of an answer is β times its log-probability ratio.
- **Reference without a second copy.** The policy is the merged SFT model plus a fresh LoRA adapter
  (`LoraSettings`, the same settings as SFT); with `ref_model=None` and a `peft_config`, TRL computes
  the reference log-probabilities with the adapter disabled, i.e. with the SFT model itself. So the
  reference costs one extra no-grad forward per step but no memory for a second set of weights
  (`trainer.ref_model is None`, which `build_dpo_trainer` checks). At step 0 the adapter's B matrices
  are zero, so policy == reference and every reward starts at 0.
- **Data.** TRL's conversational preference format: `{"prompt": [messages ending on a user turn],
  "chosen": [{"role": "assistant", "content": ...}], "rejected": [...]}`. `preference_pair` builds it from
  Saiga messages (roles normalised as for SFT). TRL renders prompt+answer with the chat template, so the
  answer tokens are the bot's text and its `</s>` exactly as at inference. Pairs whose prompt alone fills
  `max_length` are dropped by TRL; the longer ones are truncated at the end (`keep_start`).
- **Metrics** (`trainer.state.log_history` -> `{name: [{"step", "value"}]}` as in SFT): `train/loss`,
  `train/rewards/chosen` and `train/rewards/rejected` (β · mean log-ratio policy/reference, i.e. the
  implicit rewards; their per-sequence log-ratios are the sample estimate of the KL between policy and
  reference on those answers), `train/rewards/margins` (chosen - rejected), `train/rewards/accuracies`
  (share of pairs with chosen reward > rejected), `train/logps/chosen` and `train/logps/rejected` (policy
  sequence log-probabilities), `train/logits/*`, `train/entropy`, `train/mean_token_accuracy`, and the
  same under `eval/`. TRL 1.16 logs no separate `kl` metric for DPO.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from llm_lifecycle.chat_format import ROLES, normalise_messages
from llm_lifecycle.training.alignment.sft import (
    TrainerSettings,
    TrainResult,
    _first,
    _last,
    common_trainer_args,
    count_parameters,
    run_trainer,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

logger = logging.getLogger(__name__)


class DPOSettings(TrainerSettings):
    """Parameters of `conf/base/parameters_dpo.yml` (key `dpo.train`); LoRA and optimiser as in SFT."""

    beta: float = Field(0.1, gt=0)
    loss_type: str | list[str] = Field(
        "sigmoid", description='TRL loss name(s); ["sigmoid", "sft"] adds an NLL term on chosen (RPO)'
    )
    loss_weights: list[float] | None = Field(None, description="one weight per loss_type (None: all 1.0)")
    lr: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    precompute_ref_log_probs: bool = Field(
        False, description="reference log-probs once before training (saves a forward per step over epochs)"
    )

    @model_validator(mode="after")
    def _weights_match_losses(self) -> DPOSettings:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_types):
            raise ValueError(
                f"loss_weights {self.loss_weights} must have one weight per loss_type {self.loss_types}"
            )
        return self

    @property
    def loss_types(self) -> list[str]:
        return [self.loss_type] if isinstance(self.loss_type, str) else list(self.loss_type)


DPOResult = TrainResult


def preference_pair(messages: Sequence[Mapping[str, Any]], chosen: str, rejected: str, **extra: Any) -> dict:
    """A TRL conversational preference example from a Saiga prompt (ending on a user turn) and two answers."""
    prompt = normalise_messages(messages)
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **extra,
    }


def check_pair(pair: Mapping[str, Any]) -> str | None:  # noqa: PLR0911
    """The problem with one preference example, or None."""
    prompt = pair.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        return "empty prompt"
    if any(not isinstance(m, Mapping) or not isinstance(m.get("content"), str) for m in prompt):
        return "a prompt message is not an object with string 'content'"
    if any(m.get("role") not in ROLES for m in prompt):
        return "a prompt message has an unknown role"
    if ROLES[prompt[-1]["role"]] != "user":
        return "the prompt does not end on a user turn"
    for key in ("chosen", "rejected"):
        answer = pair.get(key)
        if (
            not isinstance(answer, list)
            or len(answer) != 1
            or not isinstance(answer[0], Mapping)
            or answer[0].get("role") != "assistant"
            or not str(answer[0].get("content", "")).strip()
        ):
            return f"{key!r} must be one non-empty assistant message"
    if pair["chosen"][0]["content"] == pair["rejected"][0]["content"]:
        return "chosen and rejected are identical"
    return None


def _validated(pairs: Sequence[Mapping[str, Any]], name: str) -> list[dict]:
    out = []
    for i, pair in enumerate(pairs):
        problem = check_pair(pair)
        if problem:
            raise ValueError(f"{name} pair {i}: {problem}")
        out.append(
            {
                "prompt": normalise_messages(pair["prompt"]),
                "chosen": list(pair["chosen"]),
                "rejected": list(pair["rejected"]),
            }
        )
    return out


def build_dpo_trainer(  # noqa: PLR0917
    model: PreTrainedModel,
    tokenizer: Any,
    train_pairs: Sequence[Mapping[str, Any]],
    val_pairs: Sequence[Mapping[str, Any]] | None,
    cfg: DPOSettings,
    output_dir: str,
) -> Any:
    """The configured `trl.DPOTrainer`: `model` wrapped with a new LoRA adapter, `ref_model=None`."""
    import transformers
    from datasets import Dataset
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    if isinstance(model, PeftModel):
        raise TypeError("train_dpo expects a plain model: merge the SFT adapter first (sft.merge_adapter)")
    train = _validated(train_pairs, "train")
    val = _validated(val_pairs or [], "val")
    if not train:
        raise ValueError("train_dpo: no training pairs")
    has_eval = bool(val)
    args = DPOConfig(
        **common_trainer_args(cfg, output_dir, has_eval),
        beta=cfg.beta,
        loss_type=cfg.loss_types,
        loss_weights=cfg.loss_weights,
        precompute_ref_log_probs=cfg.precompute_ref_log_probs,
    )
    transformers.set_seed(cfg.seed)
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(val) if has_eval else None,
        processing_class=tokenizer,
        peft_config=cfg.lora.to_peft(model=model),
    )
    # The reference is the adapter-disabled policy: no second copy of the weights.
    if trainer.ref_model is not None:
        raise RuntimeError("DPO with LoRA must not hold a separate reference model")
    return trainer


def train_dpo(  # noqa: PLR0917
    model: PreTrainedModel,
    tokenizer: Any,
    train_pairs: Sequence[Mapping[str, Any]],
    val_pairs: Sequence[Mapping[str, Any]] | None,
    cfg: DPOSettings,
    output_dir: str,
) -> DPOResult:
    """DPO of `model` (the merged SFT model, a plain `PreTrainedModel`) with a new LoRA adapter.

    The reference is `model` with the adapter disabled (no second copy). `model` is wrapped in place, as in
    `train_sft`. Pairs are validated (`check_pair`); a bad one raises naming its index.
    """
    trainer = build_dpo_trainer(model, tokenizer, train_pairs, val_pairs, cfg, output_dir)
    has_eval = trainer.eval_dataset is not None
    train, val = trainer.train_dataset, trainer.eval_dataset or []
    params = count_parameters(trainer.model)
    logger.info(
        "DPO: %d train / %d val pairs, beta=%g, loss %s, %s, %d trainable of %d parameters",
        len(train),
        len(val),
        cfg.beta,
        "+".join(cfg.loss_types),
        cfg.length,
        params["trainable_params"],
        params["total_params"],
    )
    peft_model, history, final, wall = run_trainer(trainer, has_eval, cfg.eval_steps)
    summary: dict[str, Any] = {
        "n_train": len(train),
        "n_val": len(val),
        # TRL drops pairs whose prompt alone fills max_length
        "n_dropped_too_long": len(train_pairs) + len(val_pairs or []) - len(train) - len(val),
        "steps": trainer.state.global_step,
        "wall_s": wall,
        "tokens_seen": _last(history, "train/num_tokens"),
        "train_runtime_s": final.get("train_runtime"),
        "train_loss_mean": final.get("train_loss"),
        "train_loss_first": _first(history, "train/loss"),
        "train_loss_last": _last(history, "train/loss"),
        "ref_model_is_none": trainer.ref_model is None,
        **params,
    }
    for split in ("train", "eval"):
        for key in ("loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"):
            if split == "train" and key == "loss":
                continue
            name = f"{split}/{key}"
            if name in history:
                summary[f"{name}_first"] = _first(history, name)
                summary[f"{name}_last"] = _last(history, name)
    return TrainResult(model=peft_model, history=history, summary=summary, trainer=trainer)


def estimate_kl(  # noqa: PLR0914
    peft_model: Any,
    tokenizer: Any,
    prompts: Sequence[Sequence[Mapping[str, Any]]],
    max_new_tokens: int = 48,
    seed: int = 0,
) -> dict[str, float]:
    """Monte-Carlo KL(π ‖ π_ref) of the DPO policy from its reference, on answers the policy samples.

    For each prompt one answer y ~ π(·|x) is sampled (temperature 1, top-k/top-p off); then
    `KL ≈ mean over prompts of Σ_t [log π(y_t|x, y_<t) − log π_ref(y_t|x, y_<t)]`, an unbiased estimate
    of the sequence-level KL (Schulman's k1 estimator), with π_ref = the same model with the adapter
    disabled. The rewards TRL logs are log-ratios on the *dataset's* answers; this is the quantity the
    DPO objective's implicit KL constraint is about (the policy's own distribution). Returns
    `kl_seq` (nats per answer), `kl_per_token`, `kl_k3_per_token` (Schulman's low-variance, always ≥ 0
    estimator `(r - 1) - log r` with r = π_ref/π), and `n`.
    """
    import torch

    if not prompts:
        return {}
    model = peft_model
    model.eval()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    kl_seq, k1_tok, k3_tok, n_tok = [], 0.0, 0.0, 0
    try:
        for messages in prompts:
            out, n_answer = sample_answer(model, tokenizer, messages, max_new_tokens)
            if n_answer == 0:
                continue
            logp_pol, logp_ref = policy_and_reference_logps(model, out, n_answer)
            log_ratio = logp_pol - logp_ref  # log π/π_ref per sampled token
            kl_seq.append(float(log_ratio.sum()))
            k1_tok += float(log_ratio.sum())
            k3_tok += float((torch.exp(-log_ratio) - 1 + log_ratio).sum())
            n_tok += n_answer
    finally:
        torch.random.set_rng_state(generator_state)
    if not kl_seq:
        return {}
    return {
        "kl_seq": sum(kl_seq) / len(kl_seq),
        "kl_per_token": k1_tok / max(n_tok, 1),
        "kl_k3_per_token": k3_tok / max(n_tok, 1),
        "n": float(len(kl_seq)),
    }


def sample_answer(model: Any, tokenizer: Any, messages: Any, max_new_tokens: int) -> tuple[Any, int]:
    """One answer sampled at temperature 1, top-k/top-p off (the policy's own distribution).

    Returns the prompt + answer ids, shape (1, P + T), and the answer length T. The caller seeds torch."""
    import torch

    from llm_lifecycle.devices import to_model_device

    enc = tokenizer.apply_chat_template(
        normalise_messages(messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    enc = to_model_device(dict(enc), model)
    with torch.no_grad():
        out = model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    return out, out.shape[1] - enc["input_ids"].shape[1]


def policy_and_reference_logps(peft_model: Any, ids: Any, n_answer: int) -> tuple[Any, Any]:
    """Per-token log-probabilities of the last `n_answer` tokens under the policy and under its reference
    (the same model with the adapter disabled): two CPU tensors of shape (n_answer,)."""
    import torch

    with torch.no_grad():
        logp_pol = _token_logps(peft_model, ids, n_answer)
        with peft_model.disable_adapter():
            logp_ref = _token_logps(peft_model, ids, n_answer)
    return logp_pol.cpu(), logp_ref.cpu()


def _token_logps(model: Any, ids: Any, n_answer: int) -> Any:
    """Log-probabilities of the last `n_answer` tokens of `ids` (1, L) under `model`: shape (n_answer,)."""
    import torch

    from llm_lifecycle.devices import to_model_device

    ids = to_model_device(ids, model)
    logits = model(input_ids=ids).logits[0, -n_answer - 1 : -1].float()  # (T, V): position t predicts t+1
    return torch.log_softmax(logits, dim=-1).gather(-1, ids[0, -n_answer:, None]).squeeze(-1)
