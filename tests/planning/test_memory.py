"""Memory per device: counts from the meta-device model with peft, worked by hand for LLaMA-3-8B, and the
activation formula held to the bytes autograd actually saves for the model transformers builds."""

from __future__ import annotations

import pytest
import torch

from llm_lifecycle.modeling.config import ModelSettings, load_architecture
from llm_lifecycle.planning.memory import (
    activation_bytes,
    generation_memory,
    model_counts,
    training_memory,
    weight_bytes,
)
from llm_lifecycle.training.alignment.trl_common import LoraSettings
from tests.kedro_project import ROOT

LLAMA3_8B = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")


@pytest.fixture(scope="module")
def llama3_counts():
    return model_counts(LLAMA3_8B), model_counts(LLAMA3_8B, LoraSettings(r=16))


def test_llama3_8b_weights_and_lora_counts_are_the_hand_worked_ones(llama3_counts):
    full, lora = llama3_counts
    # V·H (embedding) + V·H (LM head) + 32 x [attention 2·4096² + 2·4096·1024, SwiGLU 3·4096·14336, 2·4096
    # norms] + 4096 (final norm)
    by_hand = 2 * 128256 * 4096 + 32 * (2 * 4096**2 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096) + 4096
    assert full.total == by_hand == 8_030_261_248
    assert weight_bytes(full, "bfloat16", frozen_only=False) == 16_060_522_496  # 16.06 GB
    # r·(d_in + d_out) per adapted linear: q, o 4096→4096; k, v 4096→1024; gate, up 4096→14336; down back
    per_layer = 16 * (2 * 8192 + 2 * 5120 + 3 * 18432)
    assert lora.trainable == 32 * per_layer == 41_943_040
    assert lora.total == full.total + lora.trainable
    assert (lora.adapted_modules, lora.adapted_inputs) == (7, 6 * 4096 + 14336)
    # 4-bit: every linear weight but the LM head packs to half a byte, the rest stays bf16
    assert full.linear == full.total - 2 * 128256 * 4096 - 65 * 4096
    packed = weight_bytes(full, "bfloat16", four_bit=True, frozen_only=False)
    assert packed == full.linear / 2 + (full.total - full.linear) * 2


def _saved_bytes(cfg, batch, seq, dtype, lora=None, checkpointing=False) -> int:
    """Bytes of the tensors autograd saves for backward in one forward (parameters excluded, each storage
    once): what the activation formula predicts."""
    from transformers import AutoModelForCausalLM

    from llm_lifecycle.modeling.build import to_hf_config

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(
        to_hf_config(cfg, experts_implementation=None), dtype=dtype, attn_implementation="sdpa"
    )
    if lora is not None:
        from peft import get_peft_model

        model = get_peft_model(model, lora.to_peft())
    if checkpointing:
        # transformers 5.x renamed gradient_checkpointing_enable (deprecated alias, warns) to this
        enable = (
            getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        )
        enable({"use_reentrant": False})
    model.train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, cfg.vocab_size, (batch, seq))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=ids, labels=ids)
    return sum(saved.values())


CFG = ModelSettings(
    vocab_size=1000, hidden_size=256, n_layers=3, n_heads=8, n_kv_heads=2, intermediate_size=688
)


@pytest.mark.parametrize(
    ("dtype", "lora", "checkpointing", "tolerance"),
    [
        (torch.bfloat16, None, False, 0.01),
        (torch.float32, None, False, 0.01),
        (torch.bfloat16, None, True, 0.01),
        (torch.bfloat16, LoraSettings(r=16, dropout=0.0), False, 0.03),
        (torch.bfloat16, LoraSettings(r=16, dropout=0.05), False, 0.06),
        (torch.bfloat16, LoraSettings(r=16, dropout=0.05), True, 0.01),
    ],
    ids=["full-bf16", "full-fp32", "full-checkpointing", "lora", "lora-dropout", "lora-checkpointing"],
)
def test_activation_formula_matches_what_autograd_saves(dtype, lora, checkpointing, tolerance):
    batch, seq = 2, 128
    counts = model_counts(CFG, lora)
    per_token = activation_bytes(
        CFG,
        str(dtype).removeprefix("torch."),
        lora_r=lora.r if lora else None,
        adapted_inputs=counts.adapted_inputs,
        adapted_modules=counts.adapted_modules,
        lora_dropout=bool(lora and lora.dropout),
        on_cpu=True,
    ).saved(checkpointing)
    measured = _saved_bytes(CFG, batch, seq, dtype, lora, checkpointing)
    assert batch * seq * per_token == pytest.approx(measured, rel=tolerance)


def test_fsdp_shards_weights_and_optimizer_state_but_not_activations(llama3_counts):
    _, lora = llama3_counts
    common = dict(weight_dtype="bfloat16", act_dtype="bfloat16", tokens_per_micro_batch=4 * 2048, lora_r=16)
    one = training_memory(LLAMA3_8B, lora, **common, checkpointing=True)
    eight = training_memory(LLAMA3_8B, lora, **common, checkpointing=True, devices=8, sharded=True)
    ddp = training_memory(LLAMA3_8B, lora, **common, checkpointing=True, devices=8, sharded=False)
    assert (
        eight.weights == pytest.approx(one.weights / 8) and eight.trainable_state == one.trainable_state / 8
    )
    assert eight.activations == one.activations and ddp.total == one.total
    assert one.trainable_state == 16 * 41_943_040  # fp32 weight + gradient + two AdamW moments
    # checkpointing, by hand per token: 32 layer inputs (2·4096 bytes each), the head (fp32 final-norm
    # input and rsqrt, fp32 logits 4·128256, ids and labels), one recomputed layer (2 norms, Q K V and
    # output, log-sum-exp, 3 SwiGLU tensors of 14336, 7 adapters' fp32 inputs and r-wide outputs)
    h, i = 4096, 14336
    head = 4 * h + 4 + 4 * 128256 + 16
    layer = 2 * (4 * h + 4) + 2 * h * (2 + 2 * 8 / 32) + 4 * 32 + 3 * 2 * i + 4 * (6 * h + i) + 4 * 16 * 7
    assert one.activations == 4 * 2048 * (32 * 2 * h + head + layer)  # 8.9 GB
    without = training_memory(LLAMA3_8B, lora, **common, checkpointing=False)
    assert without.activations == 4 * 2048 * (32 * layer + head)  # 81.8 GB: it would not fit


def test_generation_memory_is_weights_plus_the_kv_cache():
    counts = model_counts(CFG)
    est = generation_memory(CFG, counts, dtype="bfloat16", batch=4, tokens=100)
    assert est.weights == counts.total * 2
    assert est.kv_cache == 2 * CFG.n_layers * CFG.n_kv_heads * 32 * 4 * 100 * 2  # K, V · L · kv heads · Q
