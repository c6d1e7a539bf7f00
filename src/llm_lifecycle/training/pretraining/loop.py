"""Pretraining loop: a plain PyTorch loop (nanoGPT's shape) for any Hugging Face causal LM.

Why not `transformers.Trainer`: for models of a few million parameters its per-step bookkeeping is a
visible share of the step time; this loop must reach >= 0.97 of a bare `forward/backward/step` loop's
tokens/s. So the hot path has no host-device sync per step: losses and gradient norms stay on the device
and are read back once per `log_every` steps (`torch.stack(...).tolist()`, one sync for the window),
and tokens/s is measured over that window, never from an unsynchronised per-step clock.

Recipe:
- AdamW (Loshchilov & Hutter 2019, decoupled weight decay). Decay applies to matrices only (linear
  and expert weights); norm gains, biases and embedding tables get none. Decay pulls weights toward 0:
  a norm gain's job is to set a scale around 1 and a bias is an offset, neither adds capacity worth
  regularising; an embedding row is decayed at every step but only gets gradient when its token
  occurs, so rare tokens would shrink toward zero between appearances (nanoGPT/minGPT exclude the
  first two; we follow the common LLaMA-style practice of excluding embeddings too).
- Learning rate: linear warm-up to `lr` over `warmup_steps`, then cosine decay to `min_lr` at
  `max_steps` (nanoGPT's `get_lr`). It is a pure function of the step (`lr_at`), so the "scheduler
  state" in a checkpoint is just the step counter.
- Gradient accumulation over `grad_accum_steps` micro-batches of `batch_size` blocks. Blocks are packed
  without padding, so every micro-batch has the same number of target tokens and the mean of
  micro-batch means (each scaled by 1/accum) equals the mean over the whole batch exactly.
- Gradient clipping by global norm (`grad_clip`, None to disable). Autocast per `precision`; fp16 adds
  a GradScaler. On CPU `auto` means fp32: bf16 matmuls are ~15x slower on CPUs without AVX-512 BF16,
  and even on a Xeon with AMX-BF16 (5x faster bf16 GEMM) autocast made the tiny model ~15% slower
  (cast overhead dominates matrices this small).
- Data order: each epoch is `torch.randperm` from a `torch.Generator` seeded with (seed, epoch); the
  position (epoch, next micro-batch) is stored in checkpoints, so a resumed run draws exactly the
  batches the uninterrupted run would have drawn.
- MFU (PaLM, Chowdhery et al. 2022, appendix B) = flops_per_token * tokens/s / peak FLOP/s, where
  flops_per_token ~ 6N + 12·L·H·Q·T. It is reported only when both numbers are given (pass the
  architecture calculator's value, or `linear_flops_per_token` below, and a `benchmarking.ceilings`
  peak measured in the same run).

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
import math
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
GUARD_FILE = "pretrain_guard.json"
_CHECKPOINT_RE = re.compile(r"^step_(\d+)$")
_TMP_PREFIX = ".tmp_step_"
_STATE_FORMAT = 1

FlopsPerToken = float | Callable[[nn.Module, int], float]


class PretrainConfig(BaseModel):
    """Parameters of the pretraining loop (`conf/base/parameters_pretraining.yml`)."""

    model_config = ConfigDict(extra="forbid")

    block_size: int = Field(256, ge=2, description="tokens per packed block (= sequence length)")
    batch_size: int = Field(16, ge=1, description="blocks per micro-batch")
    grad_accum_steps: int = Field(1, ge=1)
    max_steps: int = Field(300, ge=1, description="optimizer updates")
    lr: float = Field(3e-3, gt=0)
    min_lr: float = Field(3e-4, ge=0)
    warmup_steps: int = Field(20, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = Field(1.0, gt=0, description="max global grad norm; None disables")
    eval_every: int = Field(50, ge=1)
    eval_batches: int | None = Field(None, ge=1, description="None: the whole validation set")
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    seed: int = 0
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "auto"
    num_threads: int | None = Field(None, ge=1, description="torch.set_num_threads for the run")
    log_every: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _check(self) -> PretrainConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        return self

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.grad_accum_steps * self.block_size


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


@dataclass
class PretrainResult:
    """What `pretrain` returns. `history` is in MlflowMetricsHistoryDataset format."""

    history: dict[str, list[dict[str, float | int]]]
    summary: dict[str, float]
    final_step: int
    resumed_from: int | None = None
    last_checkpoint: Path | None = None
    flops_per_token: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- schedule and optimizer


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Learning rate of the update with 0-based index `step`: linear warm-up, then cosine to min_lr.

    Warm-up reaches `lr` at step warmup_steps-1 (not 0 at step 0: the first update already moves);
    cosine runs from `lr` at step warmup_steps to `min_lr` at step max_steps (and stays there after).
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return cfg.min_lr
    ratio = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.lr - cfg.min_lr)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: decayed matrices, and undecayed norms/biases/embeddings (see module docstring)."""
    embedding_params = {
        id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters(recurse=False)
    }
    decay, no_decay = [], []
    # named_parameters() lists a tied parameter once (under its first name, the embedding's).
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or id(p) in embedding_params else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for `precision` on `device`; None means plain fp32."""
    if precision == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if precision == "fp32":
        return None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cpu":
        logger.warning(
            "%s autocast on CPU is much slower than fp32 on CPUs without native support", precision
        )
    return dtype


def linear_flops_per_token(model: nn.Module, seq_len: int) -> float:
    """Training FLOPs/token of a dense decoder, PaLM style: 6·N_matmul + 12·L·H·Q·T.

    N_matmul counts the weights of `nn.Linear` modules (the LM head included, the embedding lookup
    excluded: a lookup does no multiply-add). A fallback for a model that did not come from the
    project's `ModelConfig`; prefer the architecture calculator. Dense models only.
    """
    cfg = model.config
    if getattr(cfg, "num_local_experts", None) or getattr(cfg, "num_experts", None):
        raise NotImplementedError("MoE: only the routed experts count per token; use the calculator")
    n_matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    n_layers, n_heads = cfg.num_hidden_layers, cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_heads
    return 6.0 * n_matmul + 12.0 * n_layers * n_heads * head_dim * seq_len


# --------------------------------------------------------------------------- data order


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """[n] permutation of block indices for `epoch`, a function of (seed, epoch) only."""
    g = torch.Generator()
    g.manual_seed((seed * 1_000_003 + epoch) % (2**63))
    return torch.randperm(n, generator=g)


class BlockSampler:
    """Micro-batches of `batch_size` block indices; each epoch a fresh permutation, short tail dropped.

    `epoch` and `cursor` (the next micro-batch within the epoch) are the whole state: store them and
    the same batches follow.
    """

    def __init__(self, n_blocks: int, batch_size: int, seed: int, epoch: int = 0, cursor: int = 0):
        if n_blocks < batch_size:
            raise ValueError(f"{n_blocks} training blocks cannot fill a micro-batch of {batch_size}")
        self.n_blocks, self.batch_size, self.seed = n_blocks, batch_size, seed
        self.batches_per_epoch = n_blocks // batch_size
        self.epoch, self.cursor = epoch, cursor
        self._perm: torch.Tensor | None = None

    def next_indices(self) -> torch.Tensor:  # [batch_size]
        if self.cursor >= self.batches_per_epoch:
            self.epoch, self.cursor, self._perm = self.epoch + 1, 0, None
        if self._perm is None:
            self._perm = epoch_permutation(self.n_blocks, self.seed, self.epoch)
        start = self.cursor * self.batch_size
        self.cursor += 1
        return self._perm[start : start + self.batch_size]


# --------------------------------------------------------------------------- checkpoints


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
    model: nn.Module, cfg: PretrainConfig, train_blocks: torch.Tensor, val_blocks: torch.Tensor | None
) -> dict[str, Any]:
    """Flat, JSON-normalised dict of everything that must match for a resume to be the same run."""
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
    # JSON round trip: tuples become lists, exactly as they come back from a saved guard.
    return json.loads(json.dumps(_flatten(guard), sort_keys=True, default=str))


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
) -> Path:
    """Write `checkpoint_dir/step_<step>` atomically (temp dir + rename) and keep the newest `keep`."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint_dir / f"{_TMP_PREFIX}{step}"
    final = checkpoint_dir / f"step_{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with _quiet_hf_progress():
        model.save_pretrained(tmp)  # safetensors weights + config.json
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


def _restore_latest(
    ckpt_root: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    *,
    guard: dict[str, Any],
    cfg: PretrainConfig,
) -> tuple[int, int, int, dict[str, list[dict[str, float | int]]], Path] | None:
    """Load the newest complete checkpoint into model/optimizer/scaler/RNG after checking its guard.

    Returns (step, epoch, cursor, history, path), or None when there is nothing to resume.
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
    optimizer.load_state_dict(state["optimizer"])
    if state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    logger.info("resuming pretraining from %s (step %d of %d)", path, state["step"], cfg.max_steps)
    return state["step"], state["epoch"], state["cursor"], state["history"], path


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate(
    model: nn.Module,
    blocks: torch.Tensor,
    batch_size: int,
    *,
    max_batches: int | None = None,
    seed: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """Mean next-token cross-entropy (nats) on `blocks` [n, T] (or a fixed seeded subset of them).

    The subset is the same at every evaluation (seeded once), so successive values are comparable; a
    random subset rather than the first blocks, because documents may come grouped (e.g. by language).
    Every block has T-1 targets, so weighting batch means by the number of blocks is the token mean.
    """
    device = next(model.parameters()).device
    n = blocks.shape[0]
    if max_batches is not None and max_batches * batch_size < n:
        g = torch.Generator().manual_seed(seed)
        subset = torch.randperm(n, generator=g)[: max_batches * batch_size].sort().values
        blocks = blocks[subset.to(blocks.device)]
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, blocks.shape[0], batch_size):
        x = blocks[start : start + batch_size].to(device, non_blocking=True)  # [b, T]
        with _autocast(device, autocast_dtype):
            loss = model(input_ids=x, labels=x).loss
        total += loss.double() * x.shape[0]
    model.train(was_training)
    return float(total.item() / blocks.shape[0])


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --------------------------------------------------------------------------- the loop


def _append(history: dict[str, list[dict[str, float | int]]], name: str, step: int, value: float) -> None:
    history.setdefault(name, []).append({"value": float(value), "step": int(step)})


def _summary(
    history: dict[str, list[dict[str, float | int]]],
    cfg: PretrainConfig,
    step: int,
    *,
    n_train: int,
    session_time: float,
    n_params: int,
) -> dict[str, float]:
    def values(name: str) -> list[float]:
        return [float(e["value"]) for e in history.get(name, [])]

    train = values("train_loss")
    summary: dict[str, float] = {
        "steps": float(step),
        "tokens_seen": float(step * cfg.tokens_per_step),
        "epochs": step * cfg.batch_size * cfg.grad_accum_steps / n_train,
        "n_params": float(n_params),
        "train_time_s": session_time,
    }
    if train:
        summary["train_loss_final"] = statistics.fmean(train[-cfg.log_every :])
    val = values("val_loss")
    if val:
        summary["val_loss_final"] = val[-1]
        summary["val_perplexity_final"] = math.exp(val[-1])
        summary["val_loss_best"] = min(val)
    for name in ("tokens_per_s", "mfu"):
        if values(name):
            summary[f"{name}_median"] = statistics.median(values(name))
    return summary


def pretrain(
    model: nn.Module,
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor | None,
    cfg: PretrainConfig,
    checkpoint_dir: str | Path | None = None,
    *,
    flops_per_token: FlopsPerToken | None = None,
    peak_flops: float | None = None,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
) -> PretrainResult:
    """Train `model` (any HF causal LM, in place) on packed blocks; resume from `checkpoint_dir` if any.

    train_blocks / val_blocks: int64 [n, cfg.block_size] (see `packing.pack_corpus`); val may be None.
    flops_per_token: a number, or a callable `(model, seq_len) -> float`; with `peak_flops` (FLOP/s)
    it gives MFU. on_log(step, metrics) is called at each logging point, after evaluation and
    checkpointing of that step (e.g. for live MLflow logging).
    History keys: train_loss, lr, grad_norm (every step), tokens_per_s, mfu (per logging window),
    val_loss, val_perplexity (step 0 and every eval_every, and the last step).
    """
    if train_blocks.ndim != 2 or train_blocks.shape[1] != cfg.block_size:
        raise ValueError(f"train_blocks must be [n, {cfg.block_size}], got {list(train_blocks.shape)}")
    if val_blocks is not None and val_blocks.numel() == 0:
        val_blocks = None
    if val_blocks is not None and (val_blocks.ndim != 2 or val_blocks.shape[1] != cfg.block_size):
        raise ValueError(f"val_blocks must be [n, {cfg.block_size}], got {list(val_blocks.shape)}")
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos is not None and cfg.block_size > max_pos:
        raise ValueError(f"block_size {cfg.block_size} exceeds max_position_embeddings {max_pos}")
    vocab = model.get_input_embeddings().num_embeddings
    if int(train_blocks.max()) >= vocab:
        raise ValueError(f"token id {int(train_blocks.max())} >= the model's vocabulary size {vocab}")

    prev_threads = torch.get_num_threads()
    if cfg.num_threads is not None:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _pretrain(
            model,
            train_blocks,
            val_blocks,
            cfg,
            checkpoint_dir=checkpoint_dir,
            flops_per_token=flops_per_token,
            peak_flops=peak_flops,
            progress=progress,
            on_log=on_log,
        )
    finally:
        torch.set_num_threads(prev_threads)


def _pretrain(
    model: nn.Module,
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor | None,
    cfg: PretrainConfig,
    *,
    checkpoint_dir: str | Path | None,
    flops_per_token: FlopsPerToken | None,
    peak_flops: float | None,
    progress: bool,
    on_log: Callable[[int, dict[str, float]], None] | None,
) -> PretrainResult:
    device = next(model.parameters()).device
    amp_dtype = resolve_precision(cfg.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=device.type == "cuda"
    )
    fpt = flops_per_token(model, cfg.block_size) if callable(flops_per_token) else flops_per_token
    n_params = sum(p.numel() for p in model.parameters())
    guard = config_guard(model, cfg, train_blocks, val_blocks)
    guard["pretrain.resolved_precision"] = str(amp_dtype or torch.float32)

    step, epoch, cursor = 0, 0, 0
    history: dict[str, list[dict[str, float | int]]] = {}
    resumed_from: int | None = None
    ckpt_root = Path(checkpoint_dir) if checkpoint_dir is not None else None
    last_ckpt: Path | None = None
    if ckpt_root is not None:
        restored = _restore_latest(ckpt_root, model, optimizer, scaler, guard=guard, cfg=cfg)
        if restored is not None:
            step, epoch, cursor, history, last_ckpt = restored
            resumed_from = step
    if resumed_from is None:
        torch.manual_seed(cfg.seed)  # dropout and any other global-RNG use: reproducible from the seed

    sampler = BlockSampler(train_blocks.shape[0], cfg.batch_size, cfg.seed, epoch, cursor)
    logger.info(
        "pretraining %s (%.2fM params) on %s, %s: %d steps x %d tokens; %d train / %d val blocks",
        type(model).__name__,
        n_params / 1e6,
        device,
        amp_dtype or torch.float32,
        cfg.max_steps,
        cfg.tokens_per_step,
        train_blocks.shape[0],
        0 if val_blocks is None else val_blocks.shape[0],
    )

    def run_eval(at_step: int) -> None:
        if val_blocks is None:
            return
        val = evaluate(
            model,
            val_blocks,
            cfg.batch_size,
            max_batches=cfg.eval_batches,
            seed=cfg.seed,
            autocast_dtype=amp_dtype,
        )
        _append(history, "val_loss", at_step, val)
        _append(history, "val_perplexity", at_step, math.exp(min(val, 700.0)))
        logger.info("step %d: val loss %.4f (perplexity %.2f)", at_step, val, math.exp(min(val, 700.0)))

    if step == 0:
        run_eval(0)  # at initialisation: should be close to ln(vocab)

    model.train()
    session_start = time.perf_counter()
    window_start, window_steps = time.perf_counter(), 0
    pending: list[tuple[int, float, torch.Tensor, torch.Tensor]] = []  # (step, lr, loss, grad norm)
    params = [p for p in model.parameters() if p.requires_grad]
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not progress, desc="pretrain", unit="step")
    try:
        while step < cfg.max_steps:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum: torch.Tensor | None = None
            for _ in range(cfg.grad_accum_steps):
                idx = sampler.next_indices().to(train_blocks.device)
                x = train_blocks[idx].to(device, non_blocking=True)  # [batch_size, block_size]
                with _autocast(device, amp_dtype):
                    # labels = inputs: the HF model shifts them (token t predicts t+1).
                    loss = model(input_ids=x, labels=x).loss / cfg.grad_accum_steps
                scaler.scale(loss).backward()
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
            scaler.unscale_(optimizer)  # no-op unless fp16: norms and clipping must see true gradients
            if cfg.grad_clip is not None:
                grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)  # norm before clipping
            else:  # still worth logging: spikes in the norm precede loss spikes
                grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_steps += 1
            bar.update(1)
            assert loss_sum is not None
            pending.append((step, lr, loss_sum, grad_norm))

            is_eval = step % cfg.eval_every == 0 or step == cfg.max_steps
            is_ckpt = ckpt_root is not None and (step % cfg.checkpoint_every == 0 or step == cfg.max_steps)
            if not (step % cfg.log_every == 0 or is_eval or is_ckpt):
                continue

            # --- one host-device sync for the whole window
            losses = torch.stack([p[2] for p in pending]).float().tolist()
            norms = torch.stack([p[3] for p in pending]).float().tolist()
            elapsed = time.perf_counter() - window_start
            for i, (s, lr_s, _, _) in enumerate(pending):
                if not math.isfinite(losses[i]):
                    raise FloatingPointError(f"training diverged: loss {losses[i]} at step {s}")
                _append(history, "train_loss", s, losses[i])
                _append(history, "lr", s, lr_s)
                _append(history, "grad_norm", s, norms[i])
            pending.clear()
            tok_s = window_steps * cfg.tokens_per_step / max(elapsed, 1e-9)
            _append(history, "tokens_per_s", step, tok_s)
            logged = {"train_loss": losses[-1], "lr": lr, "tokens_per_s": tok_s}
            if fpt is not None and peak_flops:
                logged["mfu"] = fpt * tok_s / peak_flops
                _append(history, "mfu", step, logged["mfu"])
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:.0f}")

            if is_eval:
                run_eval(step)
                if val_blocks is not None:
                    logged["val_loss"] = float(history["val_loss"][-1]["value"])
            if is_ckpt:
                assert ckpt_root is not None
                state = {
                    "format": _STATE_FORMAT,
                    "step": step,
                    "epoch": sampler.epoch,
                    "cursor": sampler.cursor,
                    "max_steps": cfg.max_steps,
                    "optimizer": optimizer.state_dict(),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "history": history,
                    "guard": json.dumps(guard, sort_keys=True),
                }
                last_ckpt = save_checkpoint(
                    ckpt_root, step, model, state, guard=guard, keep=cfg.keep_checkpoints
                )
                logger.debug("checkpoint %s", last_ckpt)
            if on_log is not None:
                on_log(step, logged)
            # evaluation and checkpoint time is not training throughput: restart the window after them
            window_start, window_steps = time.perf_counter(), 0
    finally:
        bar.close()

    model.eval()
    summary = _summary(
        history,
        cfg,
        step,
        n_train=train_blocks.shape[0],
        session_time=time.perf_counter() - session_start,
        n_params=n_params,
    )
    logger.info("pretraining done at step %d: %s", step, {k: round(v, 4) for k, v in summary.items()})
    return PretrainResult(
        history=history,
        summary=summary,
        final_step=step,
        resumed_from=resumed_from,
        last_checkpoint=last_ckpt,
        flops_per_token=fpt,
    )
