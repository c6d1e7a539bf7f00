"""The architecture calculator against the built model, the published counts and hand arithmetic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_lifecycle.modeling import (
    ModelSettings,
    analyze,
    kv_cache_bytes,
    kv_cache_check,
    load_architecture,
    meta_numel,
    parameter_counts,
    report_table,
    tiny_config,
    tiny_moe_config,
)
from llm_lifecycle.modeling.calculator import decode_flops_per_token, gqa_saving, training_flops_per_token

ARCH_DIR = Path(__file__).resolve().parents[2] / "conf" / "base" / "architectures"
GIB = 1024**3


def arch(name: str) -> ModelSettings:
    return load_architecture(ARCH_DIR / f"{name}.yml")


@pytest.mark.parametrize(
    "cfg",
    [
        pytest.param(tiny_config(), id="tiny"),
        pytest.param(tiny_moe_config(), id="tiny_moe"),
        pytest.param(tiny_config(tie_word_embeddings=True, head_dim=64), id="tiny_tied_headdim"),
        pytest.param(arch("llama2_7b"), id="llama2_7b"),
        pytest.param(arch("llama3_8b"), id="llama3_8b"),
        pytest.param(arch("mixtral_8x7b"), id="mixtral_8x7b"),
    ],
)
def test_total_equals_meta_device_numel(cfg):
    assert parameter_counts(cfg).total == meta_numel(cfg)


def test_published_counts():
    assert parameter_counts(arch("llama2_7b")).total == 6_738_415_616
    assert parameter_counts(arch("llama3_8b")).total == 8_030_261_248
    mixtral = parameter_counts(arch("mixtral_8x7b"))
    assert mixtral.total == 46_702_792_704
    # 6 of 8 experts (3 * 4096 * 14336 each) are skipped in each of 32 layers.
    assert mixtral.active == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336 == 12_879_925_248
    assert round(mixtral.active / 1e9, 1) == 12.9


def test_tiny_counts_by_hand():
    p = parameter_counts(tiny_config())
    per_layer = (128 * 128 + 2 * 128 * 64 + 128 * 128) + 3 * 128 * 384 + 2 * 128
    assert p.total == 2 * 4096 * 128 + 4 * per_layer + 128 == 1_836_160
    assert p.active == p.total
    assert p.flops_params == p.total - 4096 * 128  # LM head counts, embedding lookup does not
    tied = parameter_counts(tiny_config(tie_word_embeddings=True))
    assert tied.total == p.total - 4096 * 128
    assert tied.flops_params == p.flops_params  # the tied head still does its matmul
    m = parameter_counts(tiny_moe_config())
    assert m.router == 4 * 4 * 128
    assert m.active == m.total - 4 * 2 * 3 * 128 * 384


def test_kv_cache_by_hand():
    llama2, llama3, mixtral = arch("llama2_7b"), arch("llama3_8b"), arch("mixtral_8x7b")
    assert kv_cache_bytes(llama2, dtype="float16") == 2 * 32 * 32 * 128 * 2 == 524_288
    assert kv_cache_bytes(llama2, tokens=4096, dtype="float16") == 2 * GIB
    assert kv_cache_bytes(llama2, tokens=4096, batch=8, dtype="float16") == 16 * GIB
    assert kv_cache_bytes(llama3) == kv_cache_bytes(mixtral) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_cache_bytes(llama3, tokens=8192, dtype="float32") == 2 * 32 * 8 * 128 * 4 * 8192
    assert kv_cache_bytes(tiny_config()) == 2 * 4 * 2 * 32 * 4 == 2048
    assert kv_cache_bytes(llama3, dtype="int4") == 32_768


def test_gqa_saving():
    s = gqa_saving(arch("llama3_8b"), tokens=8192, batch=1, dtype="bfloat16")
    assert s["ratio"] == 4
    assert s["gqa_bytes"] == 1 * GIB and s["mha_bytes"] == 4 * GIB and s["bytes_saved"] == 3 * GIB
    assert gqa_saving(arch("llama2_7b"))["bytes_saved"] == 0  # MHA


def test_flops_by_hand():
    cfg = arch("llama3_8b")
    n = 8_030_261_248 - 128256 * 4096  # non-embedding, LM head included
    assert parameter_counts(cfg).flops_params == n
    assert training_flops_per_token(cfg, 8192) == 6 * n + 12 * 32 * 32 * 128 * 8192
    assert decode_flops_per_token(cfg, 1024) == 2 * n + 4 * 32 * 32 * 128 * 1024
    # MoE: FLOPs follow the active parameters, not the total.
    m = parameter_counts(arch("mixtral_8x7b"))
    assert (
        training_flops_per_token(arch("mixtral_8x7b"), 1)
        == 6 * (m.active - 32000 * 4096) + 12 * 32 * 32 * 128
    )


def test_kv_cache_check():
    check = kv_cache_check()
    assert check.bytes_per_token == 524_288
    assert check.context == 4096 and check.bytes_per_sequence == 2 * GIB
    assert "course article's example is wrong" in check.note
    assert "524,288 bytes = 0.5 MiB per token" in check.note and "2 GiB per sequence" in check.note


def test_report_table_llama2_has_the_kv_note():
    df = report_table(arch("llama2_7b"), context=4096, batch=1)
    assert list(df.columns) == ["quantity", "value", "unit", "note"]
    assert str(df["value"].dtype) == "float64"
    rows = df.set_index("quantity")
    assert rows.loc["params: total", "value"] == 6_738_415_616
    assert rows.loc["KV cache per token", "value"] == 524_288
    check = df[df["quantity"].str.startswith("KV cache check")]
    assert len(check) == 1 and check["value"].iloc[0] == 2 * GIB
    assert "course article's example is wrong" in check["note"].iloc[0]
    # Only LLaMA-2-7B gets the check row.
    assert not report_table(arch("llama3_8b"))["quantity"].str.startswith("KV cache check").any()


def test_report_table_moe_and_dtype_override():
    df = report_table(arch("mixtral_8x7b"), context=2048, batch=4, dtype="float16").set_index("quantity")
    assert df.loc["params: active per token", "value"] == 12_879_925_248
    assert df.loc["KV cache at 2048 tokens x batch 4", "value"] == 131_072 * 2048 * 4
    assert df.loc["weights", "value"] == 2 * 46_702_792_704
    r = analyze(tiny_config())
    assert r.context == 512 and r.dtype == "float32" and r.to_dict()["params"]["total"] == 1_836_160


def test_calculator_does_not_import_torch():
    code = (
        "import sys; import llm_lifecycle.modeling.calculator as c; c.report_table(c.LLAMA2_7B); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
