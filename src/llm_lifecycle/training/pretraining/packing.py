"""Pretraining data: held-out split by document, `<s> text </s>` packing into fixed blocks, a baseline.

Design (the GPT-2 / nanoGPT recipe):

- Split first, pack second. Documents go to train or validation by `splits.split_records` (a hash of
  the document id), so validation blocks come from documents the model never trains on. Packing
  first and splitting blocks would leak: a document cut across two blocks could land on both sides.
- Every document becomes `<s> text </s>` (the tokenizer never adds BOS itself, see
  `tokenization/train.py`, so we add both here). Documents are concatenated in the caller's order and
  cut into blocks of exactly `block_size` tokens: no padding, so every token in a batch is a training
  token and gradient accumulation over equal-sized micro-batches averages exactly. Attention crosses
  document boundaries inside a block (as in GPT-2 and nanoGPT); the `</s> <s>` pair tells the model a
  new document starts, which is why both markers are kept.
- The ragged tail (fewer than `block_size` tokens after the last full block) is DROPPED, and the count is
  logged and returned in the stats. With `block_size` a few hundred tokens this loses at most one
  block's worth of tokens per split.
- Labels are the inputs themselves: a Hugging Face causal LM shifts them inside `forward`, so a block of
  T tokens gives T-1 predictions (the first token of each block has no context and is not predicted).

The unigram baseline answers "did the model learn anything beyond token frequencies?": the
cross-entropy (nats/token) of a unigram distribution estimated on train tokens, evaluated on validation
tokens. A model's validation loss should start near ln(vocab) at initialisation, drop below this
baseline quickly, and the gap below it is what context buys.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from llm_lifecycle.splits import split_records

logger = logging.getLogger(__name__)


def split_documents(
    records: Iterable[Mapping[str, Any]], val_fraction: float, salt: str = "pretrain", key: str = "id"
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(train, validation) documents by a hash of `record[key]` (see `splits.split_records`)."""
    return split_records(records, val_fraction, salt=salt, key=key)


def encode_documents(tokenizer: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """Token ids of each text as `[bos, *ids, eos]` (int64 arrays, one per document)."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if bos is None or eos is None:
        raise ValueError("the tokenizer needs both a BOS and an EOS token to mark document boundaries")
    texts = list(texts)
    if not texts:
        return []
    # add_special_tokens=False: we place the markers ourselves, whatever the tokenizer's post-processor.
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    out = []
    for ids in encoded:
        arr = np.empty(len(ids) + 2, dtype=np.int64)
        arr[0], arr[-1] = bos, eos
        arr[1:-1] = ids
        out.append(arr)
    return out


def pack_token_ids(documents: Sequence[np.ndarray], block_size: int) -> tuple[torch.Tensor, int]:
    """Concatenate documents and cut into blocks: ([n_blocks, block_size] int64, dropped tail tokens)."""
    if block_size < 2:
        raise ValueError(f"block_size must be >= 2 (one input, one target), got {block_size}")
    stream = np.concatenate(documents) if documents else np.empty(0, dtype=np.int64)  # [total]
    n_blocks = len(stream) // block_size
    dropped = len(stream) - n_blocks * block_size
    blocks = torch.from_numpy(stream[: n_blocks * block_size].copy()).view(n_blocks, block_size)
    return blocks, dropped


def pack_documents(tokenizer: Any, texts: Sequence[str], block_size: int) -> torch.LongTensor:
    """`<s> text </s>` for each text, concatenated, cut into [n_blocks, block_size]; tail dropped (logged).

    Raises if the texts do not fill a single block: an empty tensor would only fail later, less clearly.
    """
    docs = encode_documents(tokenizer, texts)
    blocks, dropped = pack_token_ids(docs, block_size)
    total = sum(len(d) for d in docs)
    if blocks.shape[0] == 0:
        raise ValueError(
            f"{len(docs)} documents give {total} tokens, fewer than one block of {block_size}: "
            "use more documents or a smaller block_size"
        )
    logger.info(
        "packed %d documents (%d tokens) into %d blocks of %d; dropped a tail of %d tokens",
        len(docs),
        total,
        blocks.shape[0],
        block_size,
        dropped,
    )
    return blocks


def unigram_cross_entropy(
    train_tokens: torch.Tensor, val_tokens: torch.Tensor, vocab_size: int, alpha: float = 1.0
) -> float:
    """Cross-entropy in nats/token of a unigram model fitted on `train_tokens`, measured on `val_tokens`.

    p(v) = (count_train(v) + alpha) / (n_train + alpha * vocab_size)   (add-alpha smoothing; alpha=1 is
    Laplace). Smoothing is needed because a validation token never seen in train would otherwise cost
    infinitely many nats; alpha=0 is allowed when every validation token occurs in train.
    H = -mean_{t in val} log p(t).  Tensors of any shape (flattened); pass the *targets* of the packed
    blocks (`blocks[:, 1:]`) to compare exactly with a causal LM's loss on the same blocks.
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    train = train_tokens.reshape(-1).long()
    val = val_tokens.reshape(-1).long()
    if val.numel() == 0:
        raise ValueError("no validation tokens")
    counts = torch.bincount(train, minlength=vocab_size).double()  # [vocab]
    if counts.numel() > vocab_size:
        raise ValueError(f"token id {int(train.max())} is outside the vocabulary of {vocab_size}")
    log_p = torch.log(counts + alpha) - math.log(train.numel() + alpha * vocab_size)  # [vocab]
    ce = -log_p[val].mean().item()
    if not math.isfinite(ce):
        raise ValueError("a validation token never occurs in train: use alpha > 0")
    return ce


@dataclass
class PackedCorpus:
    """Train/validation blocks ([n, block_size] int64) and what it took to make them."""

    train_blocks: torch.Tensor
    val_blocks: torch.Tensor
    stats: dict[str, float] = field(default_factory=dict)


def pack_corpus(
    tokenizer: Any,
    records: Iterable[Mapping[str, Any]],
    block_size: int,
    *,
    val_fraction: float = 0.05,
    salt: str = "pretrain",
    key: str = "id",
    text_field: str = "text",
    smoothing: float = 1.0,
) -> PackedCorpus:
    """Split documents (hash of `key`), pack each side, and compute the unigram baseline on the targets."""
    train_docs, val_docs = split_documents(records, val_fraction, salt=salt, key=key)
    if not val_docs:
        raise ValueError(f"no validation documents at val_fraction={val_fraction}: raise it or add data")
    train_ids = encode_documents(tokenizer, [d[text_field] for d in train_docs])
    val_ids = encode_documents(tokenizer, [d[text_field] for d in val_docs])
    train_blocks, train_dropped = pack_token_ids(train_ids, block_size)
    val_blocks, val_dropped = pack_token_ids(val_ids, block_size)
    for name, blocks, docs in (("train", train_blocks, train_ids), ("validation", val_blocks, val_ids)):
        if blocks.shape[0] == 0:
            raise ValueError(
                f"{name}: {len(docs)} documents give {sum(map(len, docs))} tokens, fewer than one block "
                f"of {block_size}"
            )
    vocab_size = len(tokenizer)
    stats = {
        "train_documents": len(train_docs),
        "val_documents": len(val_docs),
        "train_tokens": int(train_blocks.numel()),
        "val_tokens": int(val_blocks.numel()),
        "train_blocks": int(train_blocks.shape[0]),
        "val_blocks": int(val_blocks.shape[0]),
        "train_dropped_tokens": train_dropped,
        "val_dropped_tokens": val_dropped,
        "unigram_val_cross_entropy": unigram_cross_entropy(
            train_blocks[:, 1:], val_blocks[:, 1:], vocab_size, alpha=smoothing
        ),
        "uniform_cross_entropy": math.log(vocab_size),
    }
    logger.info(
        "pretraining data: %d/%d train/val documents -> %d/%d blocks of %d (dropped tails %d/%d tokens); "
        "unigram baseline %.3f nats/token, uniform %.3f",
        stats["train_documents"],
        stats["val_documents"],
        stats["train_blocks"],
        stats["val_blocks"],
        block_size,
        train_dropped,
        val_dropped,
        stats["unigram_val_cross_entropy"],
        stats["uniform_cross_entropy"],
    )
    return PackedCorpus(train_blocks, val_blocks, stats)
