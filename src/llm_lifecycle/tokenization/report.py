"""How good is the tokenizer? Compression and coverage per language, on text it never saw.

- bytes/token (UTF-8 bytes of text per token; higher = better compression). Cyrillic letters take two
  bytes, so Russian bytes/token is naturally higher than English at equal merges: compare
  tokens/word too.
- tokens/word (fertility, Rust et al. 2021): words are whitespace-separated pieces with a letter.
- single-token word share: how many held-out words are one token.
- vocabulary used: share of the learned (non-byte, non-special) merges that appear on held-out text;
  a low share means vocabulary spent on strings the corpus no longer contains.
- example splits: how chosen words ("Moscow", "Москва", ...) split, a quick human check.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

_WORD = re.compile(r"\S*[^\W\d_]\S*")  # a whitespace token with at least one letter


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def language_stats(tokenizer, documents: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per language (`lang` field, default "unknown") with compression statistics."""
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    used: set[int] = set()
    for doc in documents:
        lang = str(doc.get("lang") or "unknown")
        text = doc["text"]
        ids = _encode(tokenizer, text)
        used.update(ids)
        a = acc[lang]
        a["documents"] += 1
        a["bytes"] += len(text.encode("utf-8"))
        a["tokens"] += len(ids)
        words = _WORD.findall(text)
        a["words"] += len(words)
        # Words as they occur mid-sentence (after a space): byte-level BPE learns the " word" form.
        a["single_token_words"] += sum(len(_encode(tokenizer, " " + w)) == 1 for w in words)
    rows = []
    for lang, a in sorted(acc.items()):
        rows.append(
            {
                "lang": lang,
                "documents": int(a["documents"]),
                "bytes": int(a["bytes"]),
                "tokens": int(a["tokens"]),
                "words": int(a["words"]),
                "bytes_per_token": a["bytes"] / max(a["tokens"], 1),
                "tokens_per_word": a["tokens"] / max(a["words"], 1),
                "single_token_word_share": a["single_token_words"] / max(a["words"], 1),
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["vocab_used_share"] = vocab_used_share(tokenizer, used)
    return df


def vocab_used_share(tokenizer, used_ids: set[int]) -> float:
    """Share of learned merges (ids beyond specials and the 256-byte alphabet) seen in `used_ids`."""
    special = set(tokenizer.all_special_ids)
    byte_alphabet = 256
    learned = [i for i in range(len(tokenizer)) if i not in special][byte_alphabet:]
    if not learned:
        return 0.0
    return sum(i in used_ids for i in learned) / len(learned)


def word_splits(tokenizer, words: Iterable[str]) -> pd.DataFrame:
    """How each word splits, both at the start of a text and after a space (the common case)."""
    rows = []
    for word in words:
        for position, text in (("start", word), ("after_space", " " + word)):
            ids = _encode(tokenizer, text)
            pieces = [tokenizer.decode([i]) for i in ids]
            rows.append(
                {"word": word, "position": position, "n_tokens": len(ids), "pieces": " | ".join(pieces)}
            )
    return pd.DataFrame(rows)


def report_metrics(stats: pd.DataFrame, splits: pd.DataFrame, vocab_size: int) -> dict[str, float]:
    """Flatten the tables into `<lang>.<stat>` metrics (the catalog prefixes the stage name)."""
    metrics: dict[str, float] = {"vocab_size": float(vocab_size)}
    for row in stats.to_dict("records"):
        for stat in ("bytes_per_token", "tokens_per_word", "single_token_word_share"):
            metrics[f"{row['lang']}.{stat}"] = float(row[stat])
    metrics["vocab_used_share"] = float(stats.attrs.get("vocab_used_share", 0.0))
    for row in splits[splits["position"] == "after_space"].to_dict("records"):
        metrics[f"split.{row['word']}"] = float(row["n_tokens"])
    return metrics
