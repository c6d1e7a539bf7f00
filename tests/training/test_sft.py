"""LoRA SFT through TRL: assistant-only labels token by token, adapter-only updates, loss down, merging."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from llm_lifecycle.training.alignment.conversations import check_conversations
from llm_lifecycle.training.alignment.sft import SFTTrainerSettings, build_sft_trainer, train_sft
from llm_lifecycle.training.alignment.trl_common import (
    LoraSettings,
    TrainInputs,
    log_history_to_metrics,
    merge_adapter,
    resolve_bf16,
)
from tests.conftest import make_tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")

SAIGA = {
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Where does the teacher live?"},
        {"role": "bot", "content": "The teacher lives in Moscow."},
        {"role": "human", "content": "And the pilot?"},
        {"role": "bot", "content": "The pilot flies to the river."},
    ]
}


def _settings(**kw) -> SFTTrainerSettings:
    base = {
        "lora": LoraSettings(r=8, alpha=16, dropout=0.0),
        "batch_size": 4,
        "lr": 1e-2,
        "max_steps": 12,
        "max_length": 128,
        "warmup_ratio": 0.0,
        "lr_scheduler_type": "constant",
        "eval_steps": 6,
        "logging_steps": 1,
        "seed": 0,
    }
    return SFTTrainerSettings(**{**base, **kw})


def _expected_ids_and_mask(tokenizer, messages) -> tuple[list[int], list[int]]:
    """Tokenize each piece of the Saiga rendering on its own; 1 exactly on the bot's text and its `</s>`."""
    ids: list[int] = []
    mask: list[int] = []

    def add(text: str, bit: int) -> None:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(piece)
        mask.extend([bit] * len(piece))

    bos, eos = tokenizer.bos_token, tokenizer.eos_token
    for m in messages:
        header = {"system": "system", "user": "user", "assistant": "bot"}[m["role"]]
        add(f"{bos}{header}\n", 0)
        if m["role"] == "assistant":
            add(m["content"], 1)
            add(eos, 1)
        else:
            add(m["content"] + eos, 0)
        add("\n", 0)
    return ids, mask


def test_assistant_only_labels_token_by_token(tiny_tokenizer, tmp_path):
    clean, _ = check_conversations([SAIGA], tiny_tokenizer)
    messages = clean[0]["messages"]
    short = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
    inputs = TrainInputs(make_tiny_llama(tiny_tokenizer), tiny_tokenizer, [clean[0], short])
    trainer = build_sft_trainer(inputs, _settings(), str(tmp_path))
    row = trainer.train_dataset[0]
    expected_ids, expected_mask = _expected_ids_and_mask(tiny_tokenizer, messages)
    assert row["input_ids"] == expected_ids  # the pieces tokenize exactly as the whole rendering
    got_mask = [int(label != -100) for label in row["labels"]]
    assert got_mask == expected_mask
    assert all(
        lab == tok for lab, tok, bit in zip(row["labels"], row["input_ids"], got_mask, strict=True) if bit
    )
    # two bot turns, each with its closing </s>; nothing of the system prompt or user turns
    trained = [t for t, bit in zip(row["input_ids"], got_mask, strict=True) if bit]
    assert (
        tiny_tokenizer.decode(trained) == "The teacher lives in Moscow.</s>The pilot flies to the river.</s>"
    )

    # the collator pads with -100 and keeps the mask of the real tokens
    batch = trainer.data_collator([trainer.train_dataset[1], row])
    n = len(row["input_ids"])
    assert batch["labels"].shape[1] == n
    assert [int(x != -100) for x in batch["labels"][1].tolist()] == expected_mask
    n_short = len(trainer.train_dataset[1]["input_ids"])
    assert (batch["labels"][0, n_short:] == -100).all() and (batch["attention_mask"][0, n_short:] == 0).all()


def _base_weights(model) -> dict[str, torch.Tensor]:
    """Base weights of a plain or LoRA-wrapped model, under the plain model's names."""
    out = {}
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        plain = name.removeprefix("base_model.model.").replace(".base_layer", "")
        out[plain] = tensor.detach().clone()
    return out


def test_lora_trains_adapter_only_and_loss_goes_down(tiny_tokenizer, tmp_path):
    clean, _ = check_conversations([SAIGA], tiny_tokenizer)
    short = {
        "messages": [
            {"role": "user", "content": "Where is Moscow?"},
            {"role": "assistant", "content": "Moscow is a large city."},
        ]
    }
    train = [clean[0], short] * 4  # tiny, repeated: memorisable in a few steps
    model = make_tiny_llama(tiny_tokenizer)
    before = _base_weights(model)
    reference = copy.deepcopy(model)

    result = train_sft(TrainInputs(model, tiny_tokenizer, train, [short]), _settings(), str(tmp_path))
    peft_model = result.model

    after = _base_weights(peft_model)
    assert after.keys() == before.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "base weights changed"
    lora_b = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values()), "LoRA B stayed at its zero init"
    assert all(p.requires_grad == ("lora_" in n) for n, p in peft_model.named_parameters())
    # all-linear: attention and MLP projections, not the LM head
    targeted = {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora_b}
    assert targeted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}

    losses = [p["value"] for p in result.history["train/loss"]]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.7 * losses[0]
    evals = [p["value"] for p in result.history["eval/loss"]]
    assert [p["step"] for p in result.history["eval/loss"]] == [0, 6, 12] and evals[-1] < evals[0]
    for name in ("train/learning_rate", "train/grad_norm", "train/mean_token_accuracy"):
        assert name in result.history
    for series in result.history.values():
        assert all(set(p) == {"step", "value"} and isinstance(p["value"], float) for p in series)
    s = result.summary
    assert s["steps"] == 12 and s["train_loss_last"] < s["train_loss_first"]
    assert s["eval_loss_final"] < s["eval_loss_start"] and 0 < s["trainable_share"] < 1

    # with the adapter disabled the model is exactly the base model
    ids = torch.tensor(
        [tiny_tokenizer.apply_chat_template(short["messages"], tokenize=True, return_dict=True)["input_ids"]]
    )
    with torch.no_grad(), peft_model.disable_adapter():
        base_logits = peft_model(input_ids=ids).logits
    with torch.no_grad():
        ref_logits = reference.eval()(input_ids=ids).logits
        tuned_logits = peft_model(input_ids=ids).logits
    torch.testing.assert_close(base_logits, ref_logits)
    assert not torch.allclose(tuned_logits, ref_logits)

    # merging folds the adapter into a plain model with the same outputs
    merged = merge_adapter(peft_model)
    assert type(merged).__name__ == "LlamaForCausalLM" and "forward" not in vars(merged)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, tuned_logits, atol=1e-5, rtol=1e-4)


def _one_step(tokenizer, train, head: str, tmp_path) -> tuple[float, dict, dict]:
    """Loss, LoRA gradients and logged metrics of one training step with `head`, on fixed batches."""
    model = make_tiny_llama(tokenizer)
    trainer = build_sft_trainer(
        TrainInputs(model, tokenizer, train, []),
        _settings(lm_head_loss=head, max_steps=1),
        str(tmp_path / head),
    )
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    n_items = (batch["labels"][:, 1:] != -100).sum()
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=n_items)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    return loss.item(), grads, {k: v[-1] for k, v in trainer._metrics["train"].items()}


def test_logits_loss_head_matches_trls_fused_head(tiny_tokenizer, tmp_path):
    clean, _ = check_conversations([SAIGA], tiny_tokenizer)
    short = {"messages": [{"role": "user", "content": "Where?"}, {"role": "assistant", "content": "Moscow."}]}
    train = [clean[0], short] * 2  # one batch of 4 rows of different lengths: padding and masks exercised
    fused_loss, fused_grads, fused_metrics = _one_step(tiny_tokenizer, train, "fused", tmp_path)
    loss, grads, metrics = _one_step(tiny_tokenizer, train, "logits", tmp_path)
    assert loss == pytest.approx(fused_loss, rel=1e-5) and loss > 0
    assert grads.keys() == fused_grads.keys() and any(g.abs().sum() > 0 for g in grads.values())
    for name, g in grads.items():
        torch.testing.assert_close(g, fused_grads[name], atol=1e-6, rtol=1e-4, msg=name)
    assert metrics["mean_token_accuracy"] == pytest.approx(fused_metrics["mean_token_accuracy"])
    assert metrics["num_tokens"] == fused_metrics["num_tokens"] > 0  # non-padding tokens, as TRL counts
    assert "entropy" in fused_metrics and "entropy" not in metrics
    with pytest.raises(ValidationError, match="packing"):
        _settings(lm_head_loss="logits", packing=True)


def test_without_validation_there_is_no_eval(tiny_tokenizer, tmp_path):
    clean, _ = check_conversations([SAIGA], tiny_tokenizer)
    inputs = TrainInputs(make_tiny_llama(tiny_tokenizer), tiny_tokenizer, clean * 4, [])
    result = train_sft(inputs, _settings(max_steps=2), str(tmp_path))
    assert "eval/loss" not in result.history and result.summary["eval_loss_final"] is None


def test_settings_are_typed_and_cpu_is_fp32():
    s = SFTTrainerSettings()
    assert (s.lora.r, s.lora.alpha, s.lora.dropout, s.lora.target_modules) == (16, 32, 0.05, "all-linear")
    assert s.packing is False and s.gradient_checkpointing is False and s.bf16 == "auto"
    with pytest.raises(ValidationError):
        SFTTrainerSettings(learning_rate=1e-3)
    with pytest.raises(ValidationError):
        SFTTrainerSettings(lora={"rank": 4})
    if not torch.cuda.is_available():
        assert resolve_bf16("auto") is False
    assert resolve_bf16(True) is True
    peft_cfg = s.lora.to_peft()
    assert peft_cfg.task_type == "CAUSAL_LM" and peft_cfg.r == 16 and peft_cfg.lora_alpha == 32


def test_log_history_to_metrics():
    log = [
        {"eval_loss": 3.0, "eval_runtime": 0.1, "epoch": 0, "step": 0},
        {"loss": 2.5, "grad_norm": float("nan"), "learning_rate": 1e-3, "epoch": 0.5, "step": 1},
        {"rewards/margins": 0.2, "step": 2},
        {"train_runtime": 4.0, "train_loss": 2.4, "total_flos": 1.0, "epoch": 1, "step": 2},
    ]
    history, final = log_history_to_metrics(log)
    assert history == {
        "eval/loss": [{"step": 0, "value": 3.0}],
        "train/loss": [{"step": 1, "value": 2.5}],
        "train/learning_rate": [{"step": 1, "value": 1e-3}],
        "train/rewards/margins": [{"step": 2, "value": 0.2}],
    }
    assert final == {"train_runtime": 4.0, "train_loss": 2.4, "total_flos": 1.0}
