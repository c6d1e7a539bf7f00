"""Pretraining nodes on a micro corpus: report, packing, training with resume, save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llm_lifecycle.pipelines.pretraining import nodes

ROOT = Path(__file__).resolve().parents[2]

MICRO = {
    "model": {
        "vocab_size": None,
        "hidden_size": 32,
        "n_layers": 2,
        "n_heads": 4,
        "n_kv_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 64,
    },
    "data": {"val_fraction": 0.1},
    "train": {
        "block_size": 32,
        "batch_size": 8,
        "max_steps": 30,
        "lr": 1e-2,
        "min_lr": 1e-3,
        "warmup_steps": 3,
        "eval_every": 10,
        "checkpoint_every": 10,
        "log_every": 5,
    },
    "measure_ceiling": False,
}


def _params(tmp_path: Path, **overrides) -> dict:
    params = {**MICRO, "checkpoint_dir": str(tmp_path / "ckpt")}
    for key, value in overrides.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    return params


def test_architecture_report_covers_real_configs_and_matches_the_meta_model(tiny_tokenizer, tmp_path):
    files = {
        p.name: (lambda p=p: yaml.safe_load(p.read_text()))
        for p in (ROOT / "conf/base/architectures").glob("*.yml")
    }
    report, metrics = nodes.report_architectures(tiny_tokenizer, _params(tmp_path), files)

    assert set(report["config"]) == {
        "default",
        "llama1_65b",
        "llama2_7b",
        "llama3_70b",
        "llama3_8b",
        "mixtral_8x7b",
    }
    for name, group in report.groupby("config"):
        values = dict(zip(group["quantity"], group["value"], strict=True))
        assert values["params: total"] == values["params: meta-device model"], name
    # Published counts (model cards) and the vocabulary taken from the trained tokenizer.
    assert metrics["llama3_8b.params_total"]["value"] == 8_030_261_248
    assert metrics["mixtral_8x7b.params_total"]["value"] == 46_702_792_704
    assert metrics["mixtral_8x7b.params_active"]["value"] == 12_879_925_248
    default = report[report["config"] == "default"]
    embedding = default.loc[default["quantity"] == "params: embedding", "value"].item()
    assert embedding == len(tiny_tokenizer) * 32
    # The article's LLaMA-2-7B KV-cache example is checked and corrected in the table.
    llama2 = report[report["config"] == "llama2_7b"]
    assert llama2["quantity"].str.startswith("KV cache check").any()


def test_pretrain_node_learns_saves_and_resumes(tiny_tokenizer, bilingual_docs, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from llm_lifecycle.datasets import HFPretrainedDataset

    params = _params(tmp_path)
    blocks, data_metrics = nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs, params)
    assert blocks["train"].shape[1] == 32 and data_metrics["unigram_val_cross_entropy"]["value"] > 0

    (model, tok), metrics, log = nodes.pretrain_base_model(blocks, tiny_tokenizer, params, seed=3)
    val = [p["value"] for p in metrics["val_loss"]]
    assert val[-1] < val[0] - 1.0  # it learns
    assert metrics["val_loss_below_unigram"]["value"] == pytest.approx(
        data_metrics["unigram_val_cross_entropy"]["value"] - val[-1]
    )
    assert list(log["step"]) == list(range(31))  # step 0 (validation only) .. 30
    assert log["train_loss"].iloc[1:].notna().all() and log["unigram_val_loss"].nunique() == 1
    assert model.config.vocab_size == len(tiny_tokenizer)

    # The versioned entry holds model and tokenizer in one directory; the HF loaders all accept it.
    ds = HFPretrainedDataset(str(tmp_path / "base_model"), kind="causal_lm")
    ds.save((model, tok))
    path = tmp_path / "base_model"
    reloaded = AutoModelForCausalLM.from_pretrained(path)
    assert AutoTokenizer.from_pretrained(path).get_vocab() == tiny_tokenizer.get_vocab()
    generator = pipeline("text-generation", model=str(path))
    assert isinstance(generator("Moscow", max_new_tokens=3, do_sample=False)[0]["generated_text"], str)
    for (name, a), b in zip(model.state_dict().items(), reloaded.state_dict().values(), strict=True):
        assert a.equal(b), name

    # Started again with the same settings: the finished checkpoint is found, no new training happens.
    runs = list((tmp_path / "ckpt").iterdir())
    assert len(runs) == 1
    (again, _), metrics2, _ = nodes.pretrain_base_model(blocks, tiny_tokenizer, params, seed=3)
    assert [p["value"] for p in metrics2["val_loss"]] == val
    assert all(a.equal(b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    # Other trajectory-changing settings get their own folder instead of a refusal or an overwrite.
    nodes.pretrain_base_model(
        blocks, tiny_tokenizer, _params(tmp_path, train={"max_steps": 5, "lr": 5e-3}), seed=3
    )
    assert len(list((tmp_path / "ckpt").iterdir())) == 2


def test_pretrain_node_trains_a_moe_model_and_reports_active_parameters(
    tiny_tokenizer, bilingual_docs, tmp_path
):
    params = _params(tmp_path, model={"moe": {"n_experts": 4, "top_k": 2}}, train={"max_steps": 12})
    params["checkpoint_dir"] = None
    blocks, _ = nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs, params)
    (model, _), metrics, _ = nodes.pretrain_base_model(blocks, tiny_tokenizer, params, seed=0)
    assert type(model).__name__ == "MixtralForCausalLM"
    assert metrics["params_active"]["value"] < metrics["params_total"]["value"]
    val = [p["value"] for p in metrics["val_loss"]]
    assert val[-1] < val[0]


def test_plot_pretraining_draws_the_unigram_baseline(tmp_path):
    import pandas as pd

    log = pd.DataFrame(
        {
            "step": [0, 5, 10],
            "train_loss": [6.0, 4.0, 3.0],
            "val_loss": [6.1, None, 3.2],
            "tokens_per_s": [None, 1e4, 1.1e4],
            "mfu": [None, 0.3, 0.31],
            "unigram_val_loss": 5.0,
        }
    )
    fig = nodes.plot_pretraining(log)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any("unigram baseline (5.00)" in label for label in labels)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match="checkpoint_dri"):
        nodes.PretrainingSettings.model_validate({"checkpoint_dri": "x"})


def test_one_parameter_switches_to_token_shards_with_the_same_blocks(
    tiny_tokenizer, bilingual_docs, tmp_path
):
    """`data.format: shards` (datatrove token files, memory-mapped) gives the in-memory path's blocks and
    stats; a second call with the same inputs reuses the folder, changed documents get a new one."""
    import torch

    memory, memory_metrics = nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs, _params(tmp_path))
    shards_params = _params(tmp_path, data={"format": "shards", "shards_dir": str(tmp_path / "shards")})
    shards, shard_metrics = nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs, shards_params)

    assert type(shards["train"]).__name__ == "ShardBlocks"
    for split in ("train", "val"):
        assert torch.equal(shards[split][torch.arange(shards[split].shape[0])], memory[split])
    assert shards["stats"] == pytest.approx(memory["stats"], rel=1e-12)
    assert shard_metrics.keys() == memory_metrics.keys()

    (folder,) = [p for p in (tmp_path / "shards").iterdir() if not p.name.startswith(".")]
    stamp = (folder / "shards.json").stat().st_mtime_ns
    meta = json.loads((folder / "shards.json").read_text())
    assert (folder / meta["tokenizer"]["path"]).is_file()  # the exact tokenizer, kept with its shards
    again, _ = nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs, shards_params)
    assert again["train"].folder == folder and (folder / "shards.json").stat().st_mtime_ns == stamp
    nodes.pack_pretraining_data(tiny_tokenizer, bilingual_docs[:-5], shards_params)
    assert len([p for p in (tmp_path / "shards").iterdir() if not p.name.startswith(".")]) == 2
