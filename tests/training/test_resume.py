"""Resume after a real crash: a training subprocess is SIGKILLed after its first checkpoint, then resumed.

The resumed history (steps, train losses, lrs, grad norms, val losses) and final weights must equal an
uninterrupted run's. Run as a script, this file is the worker that gets killed:
`python test_resume.py CHECKPOINT_DIR HANG_AT_STEP` trains and hangs forever at HANG_AT_STEP, after the
checkpoint of CHECKPOINT_EVERY steps has been written (so the kill loses two steps of progress).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

VOCAB = 128
CHECKPOINT_EVERY = 10
MAX_STEPS = 24


def _setup():
    from transformers import LlamaConfig, LlamaForCausalLM

    from llm_lifecycle.training.pretraining.loop import PretrainLoopSettings

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            max_position_embeddings=64,
        )
    )
    g = torch.Generator().manual_seed(0)
    train = torch.randint(0, VOCAB, (40, 16), generator=g)  # 10 micro-batches/epoch: crosses epochs
    val = torch.randint(0, VOCAB, (8, 16), generator=g)
    cfg = PretrainLoopSettings(
        block_size=16,
        batch_size=4,
        grad_accum_steps=1,
        max_steps=MAX_STEPS,
        lr=3e-3,
        min_lr=3e-4,
        warmup_steps=3,
        eval_every=5,
        eval_batches=2,
        checkpoint_every=CHECKPOINT_EVERY,
        seed=3,
        precision="fp32",
        num_threads=1,
        log_every=3,
    )
    return model, train, val, cfg


def _worker(checkpoint_dir: str, hang_at: int) -> None:
    from llm_lifecycle.training.pretraining.loop import pretrain

    model, train, val, cfg = _setup()

    def hang(step: int, _metrics: dict) -> None:
        if step >= hang_at:
            time.sleep(3600)  # the parent kills us here

    pretrain(model, train, val, cfg, checkpoint_dir=checkpoint_dir, progress=False, on_log=hang)


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    from llm_lifecycle.training.pretraining.loop import list_checkpoints, pretrain

    crashed = tmp_path / "crashed"
    log = (tmp_path / "worker.log").open("w")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(crashed), str(CHECKPOINT_EVERY + 2)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not (crashed / f"step_{CHECKPOINT_EVERY}").is_dir():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        time.sleep(0.5)  # let it run on past the checkpoint: that progress is lost with the kill
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        log.close()
    assert worker.returncode == -signal.SIGKILL
    assert [s for s, _ in list_checkpoints(crashed)] == [CHECKPOINT_EVERY]

    model, train, val, cfg = _setup()
    resumed = pretrain(model, train, val, cfg, checkpoint_dir=crashed, progress=False)
    assert resumed.resumed_from == CHECKPOINT_EVERY

    ref_model, train, val, cfg = _setup()
    reference = pretrain(ref_model, train, val, cfg, checkpoint_dir=tmp_path / "reference", progress=False)

    for key in ("train_loss", "lr", "grad_norm", "val_loss", "val_perplexity"):
        got, want = resumed.history[key], reference.history[key]
        assert [e["step"] for e in got] == [e["step"] for e in want], key
        assert [e["value"] for e in got] == pytest.approx([e["value"] for e in want], rel=1e-6, abs=1e-6), key
    assert [e["step"] for e in resumed.history["train_loss"]] == list(range(1, MAX_STEPS + 1))
    for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]))
