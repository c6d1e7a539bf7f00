"""Pretraining on several processes: the node writes a job, `accelerate launch` runs the ranks.

The same shape as SFT/DPO (`training.launch`, `alignment.distributed`): with
`pretraining.distributed.num_processes > 1` the node calls `train_distributed`, which

1. writes a job folder: the model and loop settings as JSON (every rank builds the same seeded decoder
   from them, so no weights travel), and the data: packed in-memory blocks as `.npy` files that every
   rank memory-maps (it reads only the blocks of its own slices), or the path of token shards on disk
   (`shards.ShardBlocks`), which the ranks map directly;
2. runs `accelerate launch ... -m llm_lifecycle.training.pretraining.worker <job>`: DDP by default, FSDP
   from `distributed.accelerate_config`, several nodes from that config or one `srun` per node (README);
   every rank runs `base_model.train_base_model` with a `Parallel` (see `parallel.py` for the batch and
   gradient conventions); rank 0 alone writes checkpoints into the same fingerprinted folder the
   one-process run uses (the fingerprint adds the world size), the final weights and `result.json`;
3. loads the model rank 0 saved and returns the same `BaseModelRun` as one process, so the node, the
   catalog (`base_model`, versioned) and MLflow (logged once, by the node) do not know how many ranks ran.

A launch killed midway (SIGKILL, a lost node) and started again resumes from the last checkpoint with the
same batches: the data position is part of the checkpoint and the global micro-batches do not depend on
which rank draws them.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.training.launch import DistributedSettings, launch_job
from llm_lifecycle.training.pretraining.base_model import BaseModelRun, history_table
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings

logger = logging.getLogger(__name__)

WORKER = "llm_lifecycle.training.pretraining.worker"


def _data_spec(job: Path, name: str, blocks: Any) -> dict[str, Any]:
    """How a rank opens one split: the shards' own description, or a `.npy` copy of in-memory blocks."""
    if hasattr(blocks, "spec"):  # shards.ShardBlocks: already on disk, memory-mapped by each rank
        return {"kind": "shards", **blocks.spec()}
    import numpy as np

    path = job / f"{name}.npy"
    np.save(path, blocks.numpy())
    return {"kind": "npy", "path": str(path)}


def load_blocks(spec: Mapping[str, Any]) -> Any:
    """Open a split as a rank sees it: memory-mapped, so only the blocks it indexes are read."""
    if spec["kind"] == "shards":
        from llm_lifecycle.training.pretraining.shards import ShardBlocks

        return ShardBlocks.from_spec(spec)
    import numpy as np
    import torch

    # mmap_mode="c": copy-on-write pages, writable for torch, never written back to the file.
    return torch.from_numpy(np.load(spec["path"], mmap_mode="c"))


def write_job(
    job_dir: str | Path,
    model_cfg: ModelSettings,
    blocks: Mapping[str, Any],
    cfg: PretrainLoopSettings,
    *,
    checkpoint_root: str | None,
    measure_ceiling: bool,
) -> Path:
    """The job folder the worker ranks read (see the module docstring); returns its path."""
    job = Path(job_dir)
    job.mkdir(parents=True, exist_ok=True)
    spec = {
        "model": model_cfg.model_dump(mode="json"),
        "train": cfg.model_dump(mode="json"),
        "checkpoint_root": None if checkpoint_root is None else str(Path(checkpoint_root).resolve()),
        "measure_ceiling": measure_ceiling,
        "data": {
            "train": _data_spec(job, "train", blocks["train"]),
            "val": _data_spec(job, "val", blocks["val"]),
        },
        "stats": dict(blocks["stats"]),
    }
    (job / "job.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return job


def run_job(job_dir: str | Path, settings: DistributedSettings) -> BaseModelRun:
    """Launch the ranks on a written job, check that rank 0 alone wrote, and load what it wrote."""
    from transformers import AutoModelForCausalLM

    job = Path(job_dir)
    for stale in ("result.json", "saved-rank0"):
        (job / stale).unlink(missing_ok=True)
    launch_job("pretraining", job, settings, WORKER)
    result = json.loads((job / "result.json").read_text(encoding="utf-8"))
    model = AutoModelForCausalLM.from_pretrained(job / "model")
    model.eval()
    stats = json.loads((job / "job.json").read_text(encoding="utf-8"))["stats"]
    log_table = history_table(result["history"]).assign(unigram_val_loss=stats["unigram_val_cross_entropy"])
    summary = {**result["summary"], "num_processes": settings.num_processes}
    return BaseModelRun(model, result["history"], summary, int(result["final_step"]), log_table)


def train_distributed(
    model_cfg: ModelSettings,
    blocks: Mapping[str, Any],
    cfg: PretrainLoopSettings,
    *,
    checkpoint_root: str | None,
    measure_ceiling: bool,
    settings: DistributedSettings,
    work_dir: str | Path | None = None,
) -> BaseModelRun:
    """`base_model.train_base_model` on `settings.num_processes` ranks (job folder temporary unless given)."""
    job = {"checkpoint_root": checkpoint_root, "measure_ceiling": measure_ceiling}
    work_dir = work_dir if work_dir is not None else settings.job_dir
    if work_dir is not None:
        return run_job(write_job(work_dir, model_cfg, blocks, cfg, **job), settings)
    with tempfile.TemporaryDirectory(prefix="pretrain-") as scratch:
        return run_job(write_job(scratch, model_cfg, blocks, cfg, **job), settings)
