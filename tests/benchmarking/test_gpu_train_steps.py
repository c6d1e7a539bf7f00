"""`benchmarks/gpu_train_steps.py`, the GPU check of the real environments' training, dry-run on the CPU.

On a GPU it trains a LLaMA-3-8B-shaped model with `conf/llama3_8b`'s LoRA settings and the 124 M model
with `conf/pretrain_124m`'s loop; here `--dry-run` shrinks the shapes only, so the test checks that both
environments' settings reach the trainers, and the counts the MFU rests on, worked out by hand.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("gpu_train_steps", ROOT / "benchmarks/gpu_train_steps.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_dry_run_trains_both_parts_with_the_environments_settings(script, tmp_path, capsys):
    out = tmp_path / "out.json"
    script.main(["--device", "cpu", "--dry-run", "--sft-steps", "3", "--warmup", "1", "--pretrain-steps", "4",
                 "--json", str(out)])  # fmt: skip
    sft, pre = json.loads(out.read_text())["results"]
    # conf/llama3_8b's sft.train reaches the trainer (the dry run changes only max_length and batch)
    assert (sft["gradient_checkpointing"], sft["lm_head_loss"], sft["max_length"]) == (True, "fused", 64)
    # LoRA r=16 on the 7 linear layers of 2 layers (hidden 64, 2 kv heads of 16, SwiGLU 128):
    # r * (in + out) = 16 * (128 + 96 + 96 + 128 + 192 + 192 + 192) per layer
    assert sft["trainable_params"] == 2 * 16 * 1024
    # forward 2*N + 4*L*heads*head_dim*T with N = the layers' 36,864 weights each, the norms' 5 x 64 and
    # the untied LM head's V x 64; x3 (frozen: backward once, checkpointing recomputes once); +6 per adapter
    n = 2 * 36_864 + 5 * 64 + sft["vocab_size"] * 64
    assert sft["flops_per_token"] == 3 * (2 * n + 4 * 2 * 64 * 64) + 6 * 32_768
    assert sft["steps_timed"] == 2 and sft["tokens_per_s"] > 0 and 0 < sft["mfu"] < 1
    # conf/pretrain_124m's model (tied embeddings) and loop: 2 x 2 blocks of 64 tokens a step in the dry run
    assert pre["params_total"] == 512 * 64 + 2 * 36_864 + 5 * 64
    assert pre["tokens_per_step"] == 256 and pre["precision"] == "auto"
    assert pre["windows_timed"] >= 2 and pre["tokens_per_s"] > 0 and 0 < pre["mfu"] < 1
    assert "sft8b:" in capsys.readouterr().out


def test_without_cuda_it_stops_at_once_and_says_how_to_run_it(script, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would run")
    with pytest.raises(SystemExit) as info:
        script.main([])
    assert info.value.code == 2 and "--device cpu" in capsys.readouterr().err
