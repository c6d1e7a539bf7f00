"""Bradley-Terry reward model: a scalar head on the SFT model, trained on the preference pairs (LoRA).

Design
------
- **Model.** RLHF as in InstructGPT (Ouyang et al. 2022): the reward model is the SFT transformer with its
  LM head replaced by a linear `score` head `H -> 1`, read at the last non-pad token of
  `chat_template(prompt + answer)`. `reward_model_from_causal_lm` builds it from the in-memory SFT model
  (`AutoModelForSequenceClassification.from_config` + the backbone's weights), so no checkpoint directory
  is needed; only `score.weight` starts random (seeded).
- **Loss.** Bradley-Terry (1952): P(y_w ≻ y_l | x) = σ(r(x, y_w) − r(x, y_l)), so the negative
  log-likelihood of a preference pair is `−log σ(r_w − r_l)` (`bradley_terry_loss`; TRL's `RewardTrainer`
  computes exactly this, which a test checks). The loss only sees reward *differences*: rewards are
  defined up to a constant per prompt, so the RL stage never relies on their absolute level.
- **Adapter.** LoRA (`task_type="SEQ_CLS"`) on every linear layer of the backbone; PEFT trains the new
  `score` head fully (`modules_to_save`). The merged result is a plain
  `LlamaForSequenceClassification` saved with `save_pretrained` (catalog `reward_model`).
- **Off-topic pairs.** Preference pairs alone never show an answer to *another* question, so a reward
  model can score answers without reading the prompt: on the toy world it did (held-out "right answer vs
  another prompt's right answer" accuracy 0.47, chance), and RLOO pushed hard answered every question
  with the code template "Программа выведет: 4." (reward hacking, Gao et al. 2023). `off_topic_pairs`
  adds pairs whose rejected answer is the chosen answer of a prompt from another category, the random
  negatives of response-selection models (Henderson et al. 2019), so the score has to depend on the prompt.
- **Evaluation.** `score_conversations` renders each conversation with the chat template and tokenises it
  exactly as TRL's RLOO trainer does when it queries the reward model (right padding, no added special
  tokens), so the held-out accuracy is measured on the same inputs the policy will be rewarded on.
  `pair_report` gives the per-pair rewards and margins (accuracy = share of margins > 0).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from llm_lifecycle.chat_format import normalise_messages
from llm_lifecycle.training.alignment.preferences import validate_pairs
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


class RewardTrainerSettings(TrainerSettings):
    """`rlhf.reward_model.train` in parameters; LoRA and optimiser settings as in SFT/DPO."""

    lr: float = Field(1e-4, gt=0)
    center_rewards_coefficient: float | None = Field(
        None, ge=0, description="adds c·mean((r_w + r_l)²): keeps rewards near 0 (Eisenstein et al. 2023)"
    )


def off_topic_pairs(
    pairs: Sequence[Mapping[str, Any]],
    share: float,
    seed: int,
    answers_from: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict]:
    """For a `share` of `pairs` (drawn with `seed`), a pair with the same prompt and chosen answer whose
    rejected answer is the chosen one of another pair (of `answers_from`, default `pairs`): from another
    category where both have one, and never the same text. Pairs without such a partner are skipped."""
    import random

    rng = random.Random(seed)
    pool = list(pairs if answers_from is None else answers_from)
    out = []
    for pair in [p for p in pairs if rng.random() < share]:
        text, category = pair["chosen"][0]["content"], pair.get("category") or ""
        partners = [
            q
            for q in pool
            if q["chosen"][0]["content"] != text and not (category and q.get("category") == category)
        ]
        if partners:
            out.append({**pair, "rejected": list(rng.choice(partners)["chosen"])})
    return out


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Mean of `−log σ(r_w − r_l)` over pairs: shapes (B,) and (B,) -> scalar."""
    import torch.nn.functional as F

    return -F.logsigmoid(r_chosen - r_rejected).mean()


def reward_model_from_causal_lm(
    model: PreTrainedModel, pad_token_id: int | None, seed: int
) -> PreTrainedModel:
    """A sequence-classification copy of `model` (`num_labels=1`): same backbone weights, new score head."""
    import torch
    from transformers import AutoModelForSequenceClassification

    config = copy.deepcopy(model.config)
    config.num_labels = 1
    config.pad_token_id = pad_token_id  # the head reads the last non-pad token
    config.problem_type = "regression"
    torch.manual_seed(seed)
    rm = AutoModelForSequenceClassification.from_config(config, dtype=model.dtype)
    missing, _unexpected = rm.load_state_dict(model.state_dict(), strict=False)  # lm_head is unexpected
    if any(not key.startswith("score.") for key in missing):
        raise RuntimeError(f"reward model: backbone weights missing after the copy: {missing}")
    return rm


def build_reward_trainer(inputs: TrainInputs, cfg: RewardTrainerSettings, output_dir: str) -> Any:
    """`trl.RewardTrainer` on the reward model `inputs.model` (num_labels=1, from
    `reward_model_from_causal_lm`) with a new SEQ_CLS LoRA adapter, on preference pairs."""
    import transformers
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    train = validate_pairs(inputs.train, "train")
    val = validate_pairs(inputs.val or [], "val")
    if not train:
        raise ValueError("reward model: no training pairs")
    args = RewardConfig(
        **common_trainer_args(cfg, output_dir, bool(val)),
        center_rewards_coefficient=cfg.center_rewards_coefficient,
    )
    transformers.set_seed(cfg.seed)
    return RewardTrainer(
        model=inputs.model,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(val) if val else None,
        processing_class=inputs.tokenizer,
        peft_config=cfg.lora.to_peft(task_type="SEQ_CLS", model=inputs.model),
    )


def train_reward_model(inputs: TrainInputs, cfg: RewardTrainerSettings, output_dir: str) -> TrainResult:
    """Train the reward model on preference pairs; returns its `PeftModel`, history and summary."""
    trainer = build_reward_trainer(inputs, cfg, output_dir)
    has_eval = trainer.eval_dataset is not None
    params = count_parameters(trainer.model)
    logger.info(
        "reward model: %d train / %d val pairs, %s, %d trainable of %d parameters",
        len(trainer.train_dataset),
        len(trainer.eval_dataset or []),
        cfg.length,
        params["trainable_params"],
        params["total_params"],
    )
    peft_model, history, final, wall = run_trainer(trainer, has_eval, cfg.eval_steps)
    summary: dict[str, Any] = {
        "n_train": len(trainer.train_dataset),
        "n_val": len(trainer.eval_dataset or []),
        "steps": trainer.state.global_step,
        "wall_s": wall,
        "tokens_seen": last_logged(history, "train/num_tokens"),
        "train_loss_first": first_logged(history, "train/loss"),
        "train_loss_last": last_logged(history, "train/loss"),
        "eval_loss_start": first_logged(history, "eval/loss"),
        "eval_loss_final": last_logged(history, "eval/loss"),
        "eval_accuracy_start": first_logged(history, "eval/accuracy"),
        "eval_accuracy_final": last_logged(history, "eval/accuracy"),
        **params,
    }
    return TrainResult(model=peft_model, history=history, summary=summary, trainer=trainer)


def score_conversations(
    reward_model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Mapping[str, Any]]],
    batch_size: int = 16,
) -> list[float]:
    """r(x, y) for each full conversation (prompt messages + the assistant answer), as RLOO computes it."""
    import torch

    from llm_lifecycle.devices import to_model_device

    texts = [
        tokenizer.apply_chat_template(normalise_messages(conv), tokenize=False) for conv in conversations
    ]
    reward_model.eval()
    scores: list[float] = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            texts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            padding_side="right",
            add_special_tokens=False,
        )
        with torch.no_grad():
            logits = reward_model(**to_model_device(enc, reward_model)).logits  # (B, 1)
        scores.extend(float(x) for x in logits[:, 0])
    return scores


def pair_report(
    reward_model: Any, tokenizer: Any, pairs: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per preference pair: r_chosen, r_rejected, margin (> 0: the reward model agrees)."""
    chosen = score_conversations(
        reward_model, tokenizer, [list(p["prompt"]) + list(p["chosen"]) for p in pairs]
    )
    rejected = score_conversations(
        reward_model, tokenizer, [list(p["prompt"]) + list(p["rejected"]) for p in pairs]
    )
    return [
        {
            "prompt": str(p["prompt"][-1]["content"]),
            "r_chosen": c,
            "r_rejected": r,
            "margin": c - r,
            "correct": c > r,
        }
        for p, c, r in zip(pairs, chosen, rejected, strict=True)
    ]


def margin_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Accuracy and the margin distribution (mean, std, quartiles) of `pair_report` rows."""
    import statistics

    if not rows:
        return {}
    margins = sorted(float(r["margin"]) for r in rows)
    q1, median, q3 = statistics.quantiles(margins, n=4) if len(margins) > 1 else (margins[0],) * 3
    return {
        "accuracy": sum(m > 0 for m in margins) / len(margins),
        "margin_mean": statistics.fmean(margins),
        "margin_std": statistics.pstdev(margins),
        "margin_q1": q1,
        "margin_median": median,
        "margin_q3": q3,
        "n": float(len(margins)),
    }
