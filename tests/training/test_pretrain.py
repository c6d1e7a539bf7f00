"""The pretraining loop: schedule, parameter groups, learning, accumulation, checkpoints and the guard."""

from __future__ import annotations

import json
import math

import pytest
import torch
from pydantic import ValidationError
from transformers import LlamaConfig, LlamaForCausalLM

from llm_lifecycle.modeling import from_hf_config
from llm_lifecycle.modeling.calculator import training_flops_per_token
from llm_lifecycle.training.pretraining.checkpoints import (
    STATE_FILE,
    CheckpointMismatchError,
    list_checkpoints,
)
from llm_lifecycle.training.pretraining.loop import BlockSampler, param_groups, pretrain
from llm_lifecycle.training.pretraining.packing import pack_corpus
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings, lr_at


def tiny_llama(vocab_size: int, seed: int = 0, hidden: int = 64) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(cfg)


def random_blocks(n: int, block: int = 16, vocab: int = 128, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (n, block), generator=torch.Generator().manual_seed(seed))


def small_cfg(**overrides) -> PretrainLoopSettings:
    base = dict(
        block_size=16,
        batch_size=4,
        grad_accum_steps=1,
        max_steps=10,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=2,
        eval_every=5,
        eval_batches=2,
        checkpoint_every=5,
        seed=0,
        precision="auto",
        num_threads=1,
        log_every=1,
    )
    base.update(overrides)
    return PretrainLoopSettings(**base)


# --------------------------------------------------------------------------- config and schedule


def test_config_forbids_unknown_keys_and_checks_lrs():
    with pytest.raises(ValidationError):
        PretrainLoopSettings(learning_rate=1e-3)
    with pytest.raises(ValidationError, match="min_lr"):
        PretrainLoopSettings(lr=1e-4, min_lr=1e-3)


def test_lr_schedule_by_hand():
    cfg = PretrainLoopSettings(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)  # (0+1)/10 of the peak
    assert lr_at(4, cfg) == pytest.approx(5e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)  # warm-up ends at the peak
    assert lr_at(10, cfg) == pytest.approx(1e-3)  # cosine starts at the peak
    assert lr_at(60, cfg) == pytest.approx(5.5e-4)  # half-way: (lr + min_lr) / 2
    assert lr_at(35, cfg) == pytest.approx(1e-4 + 0.5 * (1 + math.cos(math.pi / 4)) * 9e-4)
    assert lr_at(110, cfg) == pytest.approx(1e-4)
    assert lr_at(500, cfg) == pytest.approx(1e-4)
    no_warmup = PretrainLoopSettings(lr=1e-3, min_lr=0.0, warmup_steps=0, max_steps=10)
    assert lr_at(0, no_warmup) == pytest.approx(1e-3)


def test_param_groups_do_not_decay_norms_or_embeddings():
    model = tiny_llama(128)
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    undecayed = {names[id(p)] for p in no_decay["params"]}
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    assert "model.embed_tokens.weight" in undecayed
    assert all("norm" in n or "embed" in n for n in undecayed)
    assert "lm_head.weight" in decayed and "model.layers.0.self_attn.q_proj.weight" in decayed
    assert len(decayed) + len(undecayed) == len(list(model.parameters()))


def test_block_sampler_is_a_function_of_seed_epoch_and_position():
    a = BlockSampler(10, 3, seed=7)
    seq = [a.next_indices().tolist() for _ in range(7)]  # 3 batches/epoch: crosses two epochs
    b = BlockSampler(10, 3, seed=7, epoch=1, cursor=1)
    assert [b.next_indices().tolist() for _ in range(3)] == seq[4:7]
    assert sorted(sum(seq[:3], [])) == sorted(set(sum(seq[:3], [])))  # no repeats within an epoch
    assert seq[:3] != seq[3:6]  # a new permutation each epoch


# --------------------------------------------------------------------------- training behaviour


def test_loss_goes_down_on_a_tiny_model(tiny_tokenizer, bilingual_docs, tmp_path):
    corpus = pack_corpus(tiny_tokenizer, bilingual_docs, block_size=32, val_fraction=0.1)
    model = tiny_llama(len(tiny_tokenizer))
    cfg = small_cfg(block_size=32, batch_size=8, max_steps=30, warmup_steps=3, eval_every=15, log_every=10)
    result = pretrain(
        model,
        corpus.train_blocks,
        corpus.val_blocks,
        cfg,
        checkpoint_dir=None,
        progress=False,
        flops_per_token=lambda model, seq_len: training_flops_per_token(
            from_hf_config(model.config), seq_len
        ),
        peak_flops=1e11,
    )
    h = result.history
    assert [e["step"] for e in h["train_loss"]] == list(range(1, 31))
    assert [e["step"] for e in h["val_loss"]] == [0, 15, 30]
    v0 = h["val_loss"][0]["value"]
    assert abs(v0 - math.log(len(tiny_tokenizer))) < 0.5  # near-uniform at initialisation
    assert h["val_loss"][-1]["value"] < v0 - 1.5
    assert h["val_loss"][-1]["value"] < corpus.stats["unigram_val_cross_entropy"]
    first = sum(e["value"] for e in h["train_loss"][:3]) / 3
    last = sum(e["value"] for e in h["train_loss"][-3:]) / 3
    assert last < first - 1.5
    assert h["val_perplexity"][-1]["value"] == pytest.approx(math.exp(h["val_loss"][-1]["value"]))
    assert [e["step"] for e in h["tokens_per_s"]] == [10, 15, 20, 30]
    assert all(0 < e["value"] for e in h["mfu"])
    assert result.summary["steps"] == 30 and result.summary["tokens_seen"] == 30 * 8 * 32
    assert result.summary["val_loss_final"] == h["val_loss"][-1]["value"]
    assert result.flops_per_token and result.flops_per_token > 6 * 64 * 64


def test_grad_accumulation_matches_a_bigger_batch():
    data, val = random_blocks(64), random_blocks(8, seed=1)
    runs = {}
    for bs, accum in ((8, 1), (4, 2)):
        model = tiny_llama(128)
        cfg = small_cfg(batch_size=bs, grad_accum_steps=accum, max_steps=4, grad_clip=None)
        runs[(bs, accum)] = (pretrain(model, data, val, cfg, progress=False), model)
    (big, m_big), (acc, m_acc) = runs[(8, 1)], runs[(4, 2)]
    for key in ("train_loss", "grad_norm"):
        a = [e["value"] for e in big.history[key]]
        b = [e["value"] for e in acc.history[key]]
        assert a == pytest.approx(b, rel=1e-5), key
    # Adam divides by √v, so a summation-order difference in a near-zero gradient grows: 1.3e-5 after 4
    # steps with ATen's unvectorised kernels (ATEN_CPU_CAPABILITY=default). Accumulating wrongly (a
    # micro-batch's gradient dropped) moves weights by about lr = 3e-3: far outside 1e-4.
    for p, q in zip(m_big.parameters(), m_acc.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- checkpoints


def test_checkpoints_are_safetensors_and_plain_state(tmp_path):
    data, val = random_blocks(40), random_blocks(8, seed=1)
    cfg = small_cfg(max_steps=10, checkpoint_every=3)
    result = pretrain(tiny_llama(128), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [9, 10]  # the last two of 3, 6, 9, 10
    ckpt = tmp_path / "step_10"
    assert result.last_checkpoint == ckpt
    files = {p.name for p in ckpt.iterdir()}
    assert {"model.safetensors", "config.json", STATE_FILE} <= files
    assert not any(f.endswith((".bin", ".pth")) for f in files)
    # weights_only=True refuses arbitrary pickles: the state is tensors and plain Python only.
    state = torch.load(ckpt / STATE_FILE, weights_only=True)
    assert state["step"] == 10 and "model" not in state
    assert state["history"] == result.history
    reloaded = LlamaForCausalLM.from_pretrained(ckpt)
    x = val[:2]
    model = tiny_llama(128)
    model.load_state_dict(reloaded.state_dict())
    assert torch.isfinite(model(input_ids=x).logits).all()
    guard = json.loads((ckpt / "pretrain_guard.json").read_text())
    assert guard["pretrain.lr"] == cfg.lr and "pretrain.max_steps" not in guard


def test_finished_run_is_a_no_op_and_max_steps_can_grow(tmp_path):
    data, val = random_blocks(40), random_blocks(8, seed=1)
    cfg = small_cfg(max_steps=6, checkpoint_every=3)
    first = pretrain(tiny_llama(128), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    again = pretrain(tiny_llama(128), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    assert again.resumed_from == 6 and again.history == first.history
    # the finished run's training time, not the no-op session's
    assert again.summary["train_time_s"] >= first.history["train_time_s"][-1]["value"] > 0
    longer = pretrain(
        tiny_llama(128),
        data,
        val,
        cfg.model_copy(update={"max_steps": 8}),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert longer.resumed_from == 6
    assert [e["step"] for e in longer.history["train_loss"]] == list(range(1, 9))
    with pytest.raises(CheckpointMismatchError, match="beyond max_steps"):
        pretrain(
            tiny_llama(128),
            data,
            val,
            cfg.model_copy(update={"max_steps": 4}),
            checkpoint_dir=tmp_path,
            progress=False,
        )


def test_guard_refuses_a_different_setup(tmp_path):
    data, val = random_blocks(40), random_blocks(8, seed=1)
    cfg = small_cfg(max_steps=3, checkpoint_every=3)
    pretrain(tiny_llama(128), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"pretrain\.lr: checkpoint=0\.003 now=0\.001"):
        pretrain(
            tiny_llama(128),
            data,
            val,
            cfg.model_copy(update={"lr": 1e-3}),
            checkpoint_dir=tmp_path,
            progress=False,
        )
    with pytest.raises(CheckpointMismatchError, match=r"model\.hidden_size"):
        pretrain(tiny_llama(128, hidden=32), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(CheckpointMismatchError, match=r"data\.train"):
        pretrain(
            tiny_llama(128), random_blocks(40, seed=5), val, cfg, checkpoint_dir=tmp_path, progress=False
        )
    # Settings that do not change the trajectory may change.
    ok = pretrain(
        tiny_llama(128),
        data,
        val,
        cfg.model_copy(update={"eval_every": 1, "log_every": 2}),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert ok.resumed_from == 3


def test_interrupted_checkpoint_write_is_ignored(tmp_path):
    data, val = random_blocks(40), random_blocks(8, seed=1)
    cfg = small_cfg(max_steps=4, checkpoint_every=2)
    pretrain(
        tiny_llama(128),
        data,
        val,
        cfg.model_copy(update={"max_steps": 2}),
        checkpoint_dir=tmp_path,
        progress=False,
    )
    junk = tmp_path / ".tmp_step_4"
    junk.mkdir()
    (junk / "model.safetensors").write_bytes(b"half a file")
    result = pretrain(tiny_llama(128), data, val, cfg, checkpoint_dir=tmp_path, progress=False)
    assert result.resumed_from == 2 and result.final_step == 4
    assert not junk.exists()


def test_precision_auto_is_fp32_on_cpu_and_on_log_sees_metrics():
    from llm_lifecycle.training.pretraining.loop import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("bf16", torch.device("cpu")) is torch.bfloat16
    seen = []
    data, val = random_blocks(40), random_blocks(8, seed=1)
    result = pretrain(
        tiny_llama(128),
        data,
        val,
        small_cfg(max_steps=4, log_every=2, eval_every=4),
        progress=False,
        flops_per_token=1e6,
        on_log=lambda step, metrics: seen.append((step, sorted(metrics))),
    )
    base = ["lr", "tokens_per_s", "train_loss"]
    assert seen == [(2, base), (4, [*base, "val_loss"])]
    assert "mfu" not in result.history  # no peak given: no MFU
    assert result.flops_per_token == 1e6


def test_moe_model_checkpoints_and_resumes(tmp_path):
    # Mixtral is saved with per-expert keys but held with fused 3D expert weights: the resume path must
    # undo that conversion (it loads through from_pretrained).
    from transformers import MixtralConfig, MixtralForCausalLM

    def moe():
        torch.manual_seed(0)
        cfg = MixtralConfig(
            vocab_size=128,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            num_local_experts=4,
            num_experts_per_tok=2,
            max_position_embeddings=64,
        )
        cfg._experts_implementation = "eager"
        return MixtralForCausalLM(cfg)

    data, val = random_blocks(40), random_blocks(8, seed=1)
    cfg = small_cfg(max_steps=4, checkpoint_every=2)
    full = pretrain(moe(), data, val, cfg, checkpoint_dir=tmp_path / "a", progress=False)
    pretrain(
        moe(),
        data,
        val,
        cfg.model_copy(update={"max_steps": 2}),
        checkpoint_dir=tmp_path / "b",
        progress=False,
    )
    resumed = pretrain(moe(), data, val, cfg, checkpoint_dir=tmp_path / "b", progress=False)
    assert resumed.resumed_from == 2
    got = [e["value"] for e in resumed.history["train_loss"]]
    assert got == pytest.approx([e["value"] for e in full.history["train_loss"]], rel=1e-6)
