"""Checkpoints of the pretraining loop, and resuming only into the same run.

Checkpoints (`checkpoint_dir/step_<N>/`): the model via `save_pretrained` (safetensors + config.json,
loadable on its own with `from_pretrained`), and `trainer_state.pt` holding only tensors and plain
Python (optimizer and scaler state, RNG states, data position, history, config guard); it is read back
with `torch.load(weights_only=True)`, so it can never execute code on load. Each checkpoint is written
to a hidden temporary directory and renamed into place (an atomic rename on POSIX), so a `step_<N>`
directory is always complete; leftovers of a killed write are removed at the next start. The last
`keep_checkpoints` are kept. A final checkpoint is written at `max_steps`, which makes a re-run of a
finished training a no-op that returns the stored history.

Resume policy: `pretrain` resumes automatically from the newest checkpoint in `checkpoint_dir`, but
only if the checkpoint's "guard" matches: every setting that changes the training trajectory (model
config, parameter dtype, data fingerprints, lr, schedule, batch, seed, precision...). On a mismatch it
REFUSES with `CheckpointMismatchError` naming each differing key; it does not silently start over in
another directory, because the catalog names one checkpoint directory and an unnoticed fresh start
would both waste the compute and leave a stale run next to the new one. Delete the directory (or point
to another one) to start fresh on purpose. Settings that do not change the weights' trajectory may
change freely: `max_steps` (extend a run; the cosine horizon moves with it, so the lr jumps at the resume
point, which is logged), `eval_every`, `eval_batches`, `checkpoint_every`, `keep_checkpoints`,
`log_every`, `num_threads`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings, lr_at

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
GUARD_FILE = "pretrain_guard.json"
_CHECKPOINT_RE = re.compile(r"^step_(\d+)$")
_TMP_PREFIX = ".tmp_step_"

# Settings that do not change the trajectory of the weights: allowed to differ on resume.
_UNGUARDED = frozenset(
    {
        "max_steps",
        "eval_every",
        "eval_batches",
        "checkpoint_every",
        "keep_checkpoints",
        "log_every",
        "num_threads",
    }
)
# Model-config keys that describe I/O or bookkeeping, not the function being trained.
_MODEL_KEYS_IGNORED = frozenset(
    {
        "transformers_version",
        "architectures",
        "_name_or_path",
        "dtype",
        "torch_dtype",
        "use_cache",
        "output_attentions",
        "output_hidden_states",
        "return_dict",
    }
)


class CheckpointMismatchError(RuntimeError):
    """The checkpoint directory holds a run with different trajectory-changing settings."""


def list_checkpoints(checkpoint_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints `(step, path)` in `checkpoint_dir`, oldest first."""
    root = Path(checkpoint_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _CHECKPOINT_RE.match(p.name)
        if m and p.is_dir() and (p / STATE_FILE).is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def _data_fingerprint(blocks: torch.Tensor | None) -> str:
    if blocks is None or blocks.numel() == 0:
        return "none"
    stored = getattr(blocks, "fingerprint", None)  # memory-mapped shards: computed once, when written
    if stored is not None:
        return f"{list(blocks.shape)}:{stored}"
    arr = blocks.detach().to("cpu", torch.int64).contiguous().numpy()
    return f"{list(arr.shape)}:{hashlib.sha1(memoryview(arr).cast('B')).hexdigest()}"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_guard(
    model: nn.Module,
    cfg: PretrainLoopSettings,
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor | None,
    world_size: int = 1,
) -> dict[str, Any]:
    """Flat, JSON-normalised dict of everything that must match for a resume to be the same run.

    `world_size` (number of data-parallel ranks) joins it only when above 1, so one-process runs keep
    the fingerprint they always had."""
    model_cfg = {
        k: v
        for k, v in model.config.to_dict().items()
        if k not in _MODEL_KEYS_IGNORED and not k.startswith("_")
    }
    param_dtype = str(next(model.parameters()).dtype)
    guard = {
        "pretrain": cfg.model_dump(exclude=set(_UNGUARDED)),
        "model": {"class": type(model).__name__, "param_dtype": param_dtype, **model_cfg},
        "data": {"train": _data_fingerprint(train_blocks), "val": _data_fingerprint(val_blocks)},
    }
    if world_size > 1:
        guard["distributed"] = {"world_size": world_size}
    # JSON round trip: tuples become lists, exactly as they come back from a saved guard.
    return json.loads(json.dumps(_flatten(guard), sort_keys=True, default=str))


def run_fingerprint(
    model: nn.Module,
    cfg: PretrainLoopSettings,
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor | None,
    world_size: int = 1,
) -> str:
    """A short hash of `config_guard`: the checkpoint folder of this run (a changed setting, another one)."""
    guard = config_guard(model, cfg, train_blocks, val_blocks, world_size)
    return hashlib.sha256(json.dumps(guard, sort_keys=True).encode()).hexdigest()[:12]


def _guard_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    missing = "<absent>"
    return [
        f"{k}: checkpoint={saved.get(k, missing)!r} now={current.get(k, missing)!r}"
        for k in keys
        if saved.get(k, missing) != current.get(k, missing)
    ]


@contextlib.contextmanager
def _quiet_hf_progress() -> Iterator[None]:
    """save_pretrained/from_pretrained draw their own progress bars; keep our bar readable."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def save_checkpoint(
    checkpoint_dir: Path,
    step: int,
    model: nn.Module,
    state: dict[str, Any],
    *,
    guard: dict[str, Any],
    keep: int,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write `checkpoint_dir/step_<step>` atomically (temp dir + rename) and keep the newest `keep`.

    `state_dict`: the full weights when `model` holds only a shard of them (FSDP)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint_dir / f"{_TMP_PREFIX}{step}"
    final = checkpoint_dir / f"step_{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with _quiet_hf_progress():
        model.save_pretrained(tmp, state_dict=state_dict)  # safetensors weights + config.json
    torch.save(state, tmp / STATE_FILE)
    (tmp / GUARD_FILE).write_text(json.dumps(guard, indent=2, sort_keys=True))
    if final.exists():  # the same step written again (e.g. a re-run after a resume): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)  # rename(2): atomic on POSIX, so step_<N> is never half-written
    for _, old in list_checkpoints(checkpoint_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _load_weights(model: nn.Module, path: Path) -> None:
    """Load saved weights into `model` in place (via from_pretrained: it undoes any key conversions that
    save_pretrained applied, e.g. MoE experts saved per expert but held fused in memory)."""
    dtype = next(model.parameters()).dtype
    with _quiet_hf_progress():
        loaded = type(model).from_pretrained(path, dtype=dtype)
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded


def restore_latest(
    ckpt_root: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scaler: torch.amp.GradScaler,
    *,
    guard: dict[str, Any],
    cfg: PretrainLoopSettings,
) -> tuple[int, int, int, dict[str, list[dict[str, float | int]]], Path] | None:
    """Load the newest complete checkpoint into model/optimizer/scaler/RNG after checking its guard.

    Returns (step, epoch, cursor, history, path), or None when there is nothing to resume. With
    `optimizer=None` the caller loads `STATE_FILE`'s "optimizer" itself (FSDP: after sharding).
    """
    for leftover in ckpt_root.glob(f"{_TMP_PREFIX}*") if ckpt_root.is_dir() else []:
        logger.warning("removing incomplete checkpoint %s (a write was interrupted)", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    checkpoints = list_checkpoints(ckpt_root)
    if not checkpoints:
        return None
    ckpt_step, path = checkpoints[-1]
    state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    diffs = _guard_differences(json.loads(state["guard"]), guard)
    if diffs:
        raise CheckpointMismatchError(
            f"{path} was written by a different training setup; refusing to resume. "
            "Differences:\n  "
            + "\n  ".join(diffs)
            + f"\nDelete {ckpt_root} or choose another checkpoint directory to start afresh."
        )
    if ckpt_step > cfg.max_steps:
        raise CheckpointMismatchError(
            f"{path} is at step {ckpt_step}, beyond max_steps={cfg.max_steps}; cannot un-train"
        )
    if state["max_steps"] != cfg.max_steps:
        logger.warning(
            "max_steps changed %d -> %d: the cosine schedule is stretched, lr at step %d goes %.3g -> %.3g",
            state["max_steps"],
            cfg.max_steps,
            ckpt_step,
            lr_at(ckpt_step, cfg.model_copy(update={"max_steps": state["max_steps"]})),
            lr_at(ckpt_step, cfg),
        )
    _load_weights(model, path)
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    logger.info("resuming pretraining from %s (step %d of %d)", path, state["step"], cfg.max_steps)
    return state["step"], state["epoch"], state["cursor"], state["history"], path
