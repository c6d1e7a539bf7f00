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
  flops_per_token ~ 6N + 12·L·H·Q·T. It is reported only when both numbers are given (the
  architecture calculator's `training_flops_per_token`, and a `benchmarking.ceilings` peak measured in
  the same run).

Checkpoints and resuming (`checkpoints.py`): every `checkpoint_every` steps and at `max_steps`; a run
started again resumes from the newest checkpoint if, and only if, it is the same run.

Several processes (`parallel.py`): with a `Parallel` built from an `accelerate.Accelerator`, each rank
trains on its slice of every global micro-batch under DDP (or FSDP, from the accelerate config), losses and
throughput count every rank, and rank 0 alone writes checkpoints. `Parallel()` is the one-process loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from llm_lifecycle.training.pretraining.checkpoints import (
    STATE_FILE,
    CheckpointMismatchError,
    config_guard,
    list_checkpoints,
    restore_latest,
    save_checkpoint,
)
from llm_lifecycle.training.pretraining.parallel import Parallel
from llm_lifecycle.training.pretraining.settings import PretrainLoopSettings, lr_at

__all__ = [  # the loop's public names, including the settings and checkpoint helpers it re-exports
    "CheckpointMismatchError",
    "PretrainLoopSettings",
    "PretrainResult",
    "list_checkpoints",
    "lr_at",
    "pretrain",
]

logger = logging.getLogger(__name__)

_STATE_FORMAT = 1

FlopsPerToken = float | Callable[[nn.Module, int], float]


@dataclass
class PretrainResult:
    """What `pretrain` returns. `history` is in MlflowMetricsHistoryDataset format."""

    history: dict[str, list[dict[str, float | int]]]
    summary: dict[str, float]
    final_step: int
    model: Any = None  # the trained module, wrapped for DDP/FSDP when `parallel` was
    resumed_from: int | None = None
    last_checkpoint: Path | None = None
    flops_per_token: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- optimizer


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


# --------------------------------------------------------------------------- evaluation


def eval_subset(n: int, batch_size: int, max_batches: int | None, seed: int) -> torch.Tensor | None:
    """The sorted block indices an evaluation capped at `max_batches` uses (seeded once, so the same at
    every evaluation), or None when it covers all `n` blocks."""
    if max_batches is None or max_batches * batch_size >= n:
        return None
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[: max_batches * batch_size].sort().values


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
    subset = eval_subset(blocks.shape[0], batch_size, max_batches, seed)
    if subset is not None:
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


@torch.no_grad()
def evaluate_ranks(
    model: nn.Module,
    blocks: Any,
    batch_size: int,
    parallel: Parallel,
    *,
    max_batches: int | None = None,
    seed: int = 0,
    autocast_dtype: torch.dtype | None = None,
) -> float:
    """`evaluate` with the blocks dealt to the ranks (rank r: r, r+world, ...) and the sums all-reduced.

    Every rank runs the same number of forward passes (a rank with nothing left runs one with weight 0),
    because under FSDP each forward is a collective.
    """
    device = next(model.parameters()).device
    n = blocks.shape[0]
    chosen = eval_subset(n, batch_size, max_batches, seed)
    chosen = torch.arange(n) if chosen is None else chosen
    mine = chosen[list(parallel.rank_indices(len(chosen)))]  # [≈ n / world]
    per_rank = math.ceil(len(chosen) / parallel.world)  # the busiest rank's share
    n_batches = math.ceil(per_rank / batch_size)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for b in range(n_batches):
        idx = mine[b * batch_size : (b + 1) * batch_size]
        weight = len(idx)
        if weight == 0:
            idx = chosen[:1]
        x = blocks[idx].to(device, non_blocking=True)  # [b, T]
        with _autocast(device, autocast_dtype):
            loss = model(input_ids=x, labels=x).loss
        total += loss.double() * weight
    model.train(was_training)
    return float(parallel.sum(total).item() / len(chosen))


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# --------------------------------------------------------------------------- the loop


def _append(history: dict[str, list[dict[str, float | int]]], name: str, step: int, value: float) -> None:
    history.setdefault(name, []).append({"value": float(value), "step": int(step)})


def _summary(
    history: dict[str, list[dict[str, float | int]]],
    cfg: PretrainLoopSettings,
    step: int,
    *,
    n_train: int,
    train_time: float,
    n_params: int,
    world: int = 1,
) -> dict[str, float]:
    def values(name: str) -> list[float]:
        return [float(e["value"]) for e in history.get(name, [])]

    train = values("train_loss")
    summary: dict[str, float] = {
        "steps": float(step),
        "tokens_seen": float(step * cfg.tokens_per_step * world),
        "epochs": step * cfg.batch_size * cfg.grad_accum_steps * world / n_train,
        "n_params": float(n_params),
        "train_time_s": train_time,  # every session's, a resumed run included
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
    cfg: PretrainLoopSettings,
    checkpoint_dir: str | Path | None = None,
    *,
    flops_per_token: FlopsPerToken | None = None,
    peak_flops: float | None = None,
    progress: bool = True,
    on_log: Callable[[int, dict[str, float]], None] | None = None,
    parallel: Parallel | None = None,
) -> PretrainResult:
    """Train `model` (any HF causal LM, in place) on packed blocks; resume from `checkpoint_dir` if any.

    train_blocks / val_blocks: int64 [n, cfg.block_size] (see `packing.pack_corpus`), or any object with
    `.shape`, `.ndim` and tensor indexing (`shards.ShardBlocks`, memory-mapped); val may be None.
    parallel: the ranks of a multi-process run (see `parallel.py`); None is one process.
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
    # Memory-mapped shards carry their largest id in metadata: never scan a corpus for it.
    max_id = getattr(train_blocks, "max_token_id", None)
    max_id = int(train_blocks.max()) if max_id is None else int(max_id)
    if max_id >= vocab:
        raise ValueError(f"token id {max_id} >= the model's vocabulary size {vocab}")

    prev_threads = torch.get_num_threads()
    set_threads = cfg.num_threads is not None and cfg.num_threads != prev_threads
    if set_threads:
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
            parallel=parallel or Parallel(),
        )
    finally:
        if set_threads:  # only when changed: resizing the thread pool costs the next steps their warm threads
            torch.set_num_threads(prev_threads)


def _pretrain(
    model: nn.Module,
    train_blocks: torch.Tensor,
    val_blocks: torch.Tensor | None,
    cfg: PretrainLoopSettings,
    *,
    checkpoint_dir: str | Path | None,
    flops_per_token: FlopsPerToken | None,
    peak_flops: float | None,
    progress: bool,
    on_log: Callable[[int, dict[str, float]], None] | None,
    parallel: Parallel,
) -> PretrainResult:
    par = parallel
    device = next(model.parameters()).device
    amp_dtype = resolve_precision(cfg.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, fused=device.type == "cuda"
    )
    fpt = flops_per_token(model, cfg.block_size) if callable(flops_per_token) else flops_per_token
    n_params = sum(p.numel() for p in model.parameters())
    guard = config_guard(model, cfg, train_blocks, val_blocks, world_size=par.world)
    guard["pretrain.resolved_precision"] = str(amp_dtype or torch.float32)

    step, epoch, cursor = 0, 0, 0
    history: dict[str, list[dict[str, float | int]]] = {}
    resumed_from: int | None = None
    ckpt_root = Path(checkpoint_dir) if checkpoint_dir is not None else None
    last_ckpt: Path | None = None
    if ckpt_root is not None:
        # Under FSDP the optimizer state is a gathered one: it is loaded after sharding, below.
        opt = None if par.fsdp else optimizer
        restored = restore_latest(ckpt_root, model, opt, scaler, guard=guard, cfg=cfg)
        if restored is not None:
            step, epoch, cursor, history, last_ckpt = restored
            resumed_from = step
    if resumed_from is None:
        torch.manual_seed(cfg.seed)  # dropout and any other global-RNG use: reproducible from the seed
    model, optimizer = par.prepare(model, optimizer)  # DDP/FSDP wrappers; one process: unchanged
    if par.fsdp and last_ckpt is not None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        saved = torch.load(last_ckpt / STATE_FILE, map_location="cpu", weights_only=True)["optimizer"]
        opts = StateDictOptions(full_state_dict=True)
        set_optimizer_state_dict(model, optimizer, optim_state_dict=saved, options=opts)

    # The sampler draws global micro-batches (batch_size × world); each rank trains on its slice.
    sampler = BlockSampler(train_blocks.shape[0], cfg.batch_size * par.world, cfg.seed, epoch, cursor)
    logger.info(
        "pretraining %s (%.2fM params) on %s x %d, %s: %d steps x %d tokens; %d train / %d val blocks",
        type(par.unwrap(model)).__name__,
        n_params / 1e6,
        device,
        par.world,
        amp_dtype or torch.float32,
        cfg.max_steps,
        cfg.tokens_per_step * par.world,
        train_blocks.shape[0],
        0 if val_blocks is None else val_blocks.shape[0],
    )

    def run_eval(at_step: int) -> None:
        if val_blocks is None:
            return
        if par.active:
            val = evaluate_ranks(
                model,
                val_blocks,
                cfg.batch_size,
                par,
                max_batches=cfg.eval_batches,
                seed=cfg.seed,
                autocast_dtype=amp_dtype,
            )
        else:
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
    # training time before this session (the restored history's last `train_time_s`), so the summary's
    # `train_time_s` is the whole run's, however many sessions it took
    prior_s = float(history["train_time_s"][-1]["value"]) if history.get("train_time_s") else 0.0
    session_start = time.perf_counter()
    window_start, window_steps = time.perf_counter(), 0
    pending: list[tuple[int, float, torch.Tensor, torch.Tensor]] = []  # (step, lr, loss, grad norm)
    params = [p for p in model.parameters() if p.requires_grad]
    quiet = not (progress and par.is_main)
    bar = tqdm(total=cfg.max_steps, initial=step, disable=quiet, desc="pretrain", unit="step")
    try:
        while step < cfg.max_steps:
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum: torch.Tensor | None = None
            for micro in range(cfg.grad_accum_steps):
                idx = par.local_slice(sampler.next_indices(), cfg.batch_size)
                x = train_blocks[idx.to(getattr(train_blocks, "device", "cpu"))]
                x = x.to(device, non_blocking=True)  # [batch_size, block_size]
                with par.no_sync(model, last_micro_batch=micro == cfg.grad_accum_steps - 1):
                    with _autocast(device, amp_dtype):
                        # labels = inputs: the HF model shifts them (token t predicts t+1).
                        loss = model(input_ids=x, labels=x).loss / cfg.grad_accum_steps
                    scaler.scale(loss).backward()
                loss_sum = loss.detach() if loss_sum is None else loss_sum + loss.detach()
            scaler.unscale_(optimizer)  # no-op unless fp16: norms and clipping must see true gradients
            if par.active:  # DDP: gradients already averaged; FSDP: the norm spans every rank's shard
                grad_norm = par.clip_grad_norm(model, cfg.grad_clip)
            elif cfg.grad_clip is not None:
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
            losses = par.mean(torch.stack([p[2] for p in pending]).float()).tolist()  # every rank's
            norms = torch.stack([p[3] for p in pending]).float().tolist()
            elapsed = time.perf_counter() - window_start
            for i, (s, lr_s, _, _) in enumerate(pending):
                if not math.isfinite(losses[i]):
                    raise FloatingPointError(f"training diverged: loss {losses[i]} at step {s}")
                _append(history, "train_loss", s, losses[i])
                _append(history, "lr", s, lr_s)
                _append(history, "grad_norm", s, norms[i])
            pending.clear()
            tok_s = window_steps * cfg.tokens_per_step * par.world / max(elapsed, 1e-9)  # all ranks
            _append(history, "tokens_per_s", step, tok_s)
            _append(history, "train_time_s", step, prior_s + time.perf_counter() - session_start)
            logged = {"train_loss": losses[-1], "lr": lr, "tokens_per_s": tok_s}
            if fpt is not None and peak_flops:
                logged["mfu"] = fpt * tok_s / (peak_flops * par.world)  # peak is per device
                _append(history, "mfu", step, logged["mfu"])
            bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{lr:.2e}", tok_s=f"{tok_s:.0f}")

            if is_eval:
                run_eval(step)
                if val_blocks is not None:
                    logged["val_loss"] = float(history["val_loss"][-1]["value"])
            if is_ckpt:
                assert ckpt_root is not None
                weights = par.full_state_dict(model)  # a collective under FSDP: every rank calls it
                state = {
                    "format": _STATE_FORMAT,
                    "step": step,
                    "epoch": sampler.epoch,
                    "cursor": sampler.cursor,
                    "max_steps": cfg.max_steps,
                    "optimizer": _optimizer_state(optimizer, model, par),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                    "history": history,
                    "guard": json.dumps(guard, sort_keys=True),
                }
                if par.is_main:  # rank 0 alone writes; the others wait for the rename to land
                    last_ckpt = save_checkpoint(
                        ckpt_root,
                        step,
                        par.unwrap(model),
                        state,
                        guard=guard,
                        keep=cfg.keep_checkpoints,
                        state_dict=weights,
                    )
                    logger.debug("checkpoint %s", last_ckpt)
                else:
                    last_ckpt = ckpt_root / f"step_{step}"
                par.barrier()
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
        train_time=prior_s + time.perf_counter() - session_start,
        n_params=n_params,
        world=par.world,
    )
    logger.info("pretraining done at step %d: %s", step, {k: round(v, 4) for k, v in summary.items()})
    return PretrainResult(
        model=model,
        history=history,
        summary=summary,
        final_step=step,
        resumed_from=resumed_from,
        last_checkpoint=last_ckpt,
        flops_per_token=fpt,
    )


def _optimizer_state(optimizer: torch.optim.Optimizer, model: nn.Module, par: Parallel) -> dict[str, Any]:
    """The optimizer's full state: its own under DDP (every rank holds all of it), gathered under FSDP."""
    if not par.fsdp:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_optimizer_state_dict(model, optimizer, options=opts)
