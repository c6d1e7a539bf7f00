"""Pretraining on 2 CPU processes (gloo) through `accelerate launch`, started as the node starts it.

- The loss curve of 2 ranks × batch 4 matches 1 process × batch 8 (the same global batch, hence the same
  blocks per step): within 1e-4 nats per step, the difference being the order of floating-point sums
  (per-rank means averaged by the all-reduce instead of one mean over 8 blocks).
- One checkpoint set is written, by rank 0 alone, into a folder whose fingerprint names the world size.
- FSDP2 from the environment's accelerate file, SIGKILLed (the launcher's whole process group) after
  the first checkpoint, then the node's path started again: it resumes from that checkpoint and ends with
  the uninterrupted runs' history and weights (the same batches).
- Throughput counts every rank: tokens_seen is steps × the global batch's tokens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.training.launch import DistributedSettings, launch_command, launch_env
from llm_lifecycle.training.pretraining.base_model import train_base_model
from llm_lifecycle.training.pretraining.checkpoints import list_checkpoints
from llm_lifecycle.training.pretraining.distributed import WORKER, run_job, train_distributed, write_job
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

VOCAB, BLOCK = 96, 16
MODEL = ModelSettings(
    vocab_size=VOCAB,
    hidden_size=32,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
)
LOOP = dict(
    block_size=BLOCK,
    grad_accum_steps=2,  # accumulation with no_sync on the first micro-batch of each step
    max_steps=30,
    lr=3e-3,
    min_lr=3e-4,
    warmup_steps=3,
    eval_every=10,
    checkpoint_every=10,
    keep_checkpoints=5,
    seed=3,
    precision="fp32",
    log_every=5,
)
TWO = DistributedSettings(num_processes=2, timeout_s=300)


def _blocks() -> dict:
    g = torch.Generator().manual_seed(0)
    # Tokens with structure (a repeated ramp plus noise) so the loss clearly falls in 30 steps.
    base = torch.arange(BLOCK).repeat(96, 1) * 5 % VOCAB
    train = (base + torch.randint(0, 3, (96, BLOCK), generator=g)) % VOCAB
    val = (base[:12] + torch.randint(0, 3, (12, BLOCK), generator=g)) % VOCAB
    stats = {"unigram_val_cross_entropy": 4.0, "uniform_cross_entropy": float(torch.log(torch.tensor(VOCAB)))}
    return {"train": train, "val": val, "stats": stats}


def _values(history: dict, name: str) -> list[float]:
    return [p["value"] for p in sorted(history[name], key=lambda p: p["step"])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process × batch 8, and 2 processes × batch 4 (same global batch), each with checkpoints."""
    root = tmp_path_factory.mktemp("pretrain_ddp")
    torch.set_num_threads(1)
    one = train_base_model(
        MODEL, _blocks(), PretrainLoopSettings(batch_size=8, **LOOP), str(root / "ckpt1"), False
    )
    two = train_distributed(
        MODEL,
        _blocks(),
        PretrainLoopSettings(batch_size=4, **LOOP),
        checkpoint_root=str(root / "ckpt2"),
        measure_ceiling=False,
        settings=TWO,
        work_dir=root / "job",
    )
    return root, one, two


def test_two_processes_follow_the_one_process_loss_curve(runs):
    _, one, two = runs
    loss1, loss2 = _values(one.history, "train_loss"), _values(two.history, "train_loss")
    assert len(loss1) == len(loss2) == 30
    assert loss2[-1] < loss2[0] - 1.0  # it learns
    assert max(abs(a - b) for a, b in zip(loss1, loss2, strict=True)) < 1e-4
    val1, val2 = _values(one.history, "val_loss"), _values(two.history, "val_loss")
    assert max(abs(a - b) for a, b in zip(val1, val2, strict=True)) < 1e-4  # evaluation split over ranks
    assert two.summary["world_size"] == 2 and two.summary["num_processes"] == 2
    # Throughput and data counts are global: 30 steps × 2 ranks × 4 blocks × 2 micro-batches × 16 tokens.
    assert two.summary["tokens_seen"] == one.summary["tokens_seen"] == 30 * 2 * 4 * 2 * BLOCK
    assert two.summary["epochs"] == pytest.approx(one.summary["epochs"])


def test_rank_0_alone_writes_one_checkpoint_set_and_the_model(runs):
    root, _, two = runs
    runs_dirs = [p for p in (root / "ckpt2").iterdir() if p.is_dir()]
    assert len(runs_dirs) == 1  # one fingerprinted run folder, not one per rank
    assert [s for s, _ in list_checkpoints(runs_dirs[0])] == [10, 20, 30]
    assert not list(runs_dirs[0].glob(".tmp_step_*"))
    assert '"distributed.world_size": 2' in (runs_dirs[0] / "step_30" / "pretrain_guard.json").read_text()
    assert sorted(p.name for p in (root / "job").glob("saved-rank*")) == ["saved-rank0"]
    # The returned model is what rank 0 saved at the end, and equals the last checkpoint's weights.
    saved = load_file(runs_dirs[0] / "step_30" / "model.safetensors")
    for name, param in two.model.state_dict().items():
        torch.testing.assert_close(param, saved[name], rtol=0, atol=0)


def _kill_after_first_checkpoint(job: Path, ckpt: Path, settings: DistributedSettings) -> None:
    """Start the job's launch as the node does, and SIGKILL its process group once the first checkpoint is
    on disk (`run_logged`'s timeout, `kill -9`, the OOM killer). torch's elastic agent starts each rank in
    a session of its own, out of that group: the ranks must die with their launcher all the same
    (`die_with_launcher`), not train on and write checkpoints that the restarted run writes too."""
    import psutil

    proc = subprocess.Popen(
        launch_command(job, settings, module=WORKER),
        env=launch_env(2),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if [c for d in ckpt.glob("*") for c in list_checkpoints(d)]:
                break
            time.sleep(0.05)
        ranks = [p for p in psutil.Process(proc.pid).children(recursive=True) if os.getsid(p.pid) != proc.pid]
        os.killpg(proc.pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(ranks, timeout=30)
        assert len(ranks) == 2 and not alive, f"ranks outlived their launcher: {alive}"
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the launch ended before it could be killed"


def test_fsdp2_from_the_accelerate_config_is_killed_restarts_and_ends_as_the_uninterrupted_run(
    runs, tmp_path, monkeypatch
):
    """FSDP2 from the environment's accelerate file (every decoder layer sharded over the 2 ranks, forced
    on CPU by tests/fsdp_on_cpu.py), SIGKILLed after its first checkpoint; the node's path started again
    resumes from that checkpoint (gathered weights and optimizer state, loaded into the sharded model) and
    ends with the uninterrupted runs' history and weights: the same batches in the same order."""
    from tests.fsdp_on_cpu import fsdp_on_cpu

    _, one, two = runs
    fsdp = DistributedSettings(num_processes=2, accelerate_config=str(fsdp_on_cpu(tmp_path, monkeypatch)))
    cfg = PretrainLoopSettings(batch_size=4, **LOOP)
    ckpt = tmp_path / "ckpt"
    job = write_job(tmp_path / "job", MODEL, _blocks(), cfg, checkpoint_root=str(ckpt), measure_ceiling=False)
    _kill_after_first_checkpoint(job, ckpt, fsdp)
    (run_dir,) = [p for p in ckpt.iterdir() if p.is_dir()]
    killed_at = list_checkpoints(run_dir)[-1][0]
    assert killed_at < LOOP["max_steps"]

    resumed = run_job(job, fsdp)  # what the node does when `kedro run` is started again

    log = (job / "launch.log").read_text()
    assert log.count("DistributedType.FSDP, 2 ranks") == 2 and f"(step {killed_at} of 30)" in log
    assert [s for s, _ in list_checkpoints(run_dir)][-1] == 30
    saved = load_file(run_dir / "step_30" / "model.safetensors")  # gathered, not one rank's shard
    assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in two.model.state_dict().items()}
    # The same batches in the same order as the uninterrupted 2-rank run (measured: equal), and the
    # one-process curve within the order of floating-point sums.
    for name in ("train_loss", "lr", "grad_norm", "val_loss"):
        assert _values(resumed.history, name) == pytest.approx(_values(two.history, name), abs=1e-6), name
    for name, p in resumed.model.state_dict().items():
        torch.testing.assert_close(p, two.model.state_dict()[name], rtol=1e-5, atol=1e-6, msg=name)
    got, want = _values(resumed.history, "train_loss"), _values(one.history, "train_loss")
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-4
