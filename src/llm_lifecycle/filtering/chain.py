"""The filter chain: configured blocks, run over documents, with a funnel of what each rule removed.

Order: language id -> boilerplate lines -> symbol share -> Gopher quality -> Gopher repetition (the
order of the Gopher paper, Rae et al. 2021; FineWeb swaps the two) -> C4 (Raffel et al. 2020) ->
FineWeb quality (Penedo et al. 2024) -> exact dedup -> MinHash near dedup (Broder 1997). Dedup runs
last so that it compares only pages worth keeping, and in one process, in input order, so "the first
copy is kept" is well defined.
The per-language rules get one datatrove filter per kept language (stop words, spaCy tokenizer).

`run_filters` accepts any iterable of mappings with a string `text` (a list of dicts, a HF
`datasets.Dataset`, the project's JSONL `Records` or lazily read `DocumentShards`, whose `.skipped` bad
lines are counted in the funnel). Kept documents keep their fields, with `text` as the rules left it
(C4 drops some lines) and `lang` as detected; rejected documents keep their original fields plus `rule`
and `reason`. With `executor: in_process` (the default) it runs the blocks in this process over a list;
with a datatrove executor (`local`, `slurm`, `ray`) it stages the documents as a JSONL shard and runs
the streaming filter (`llm_lifecycle.filtering.streaming`), then reads the outputs back: kept documents
in input order, rejected ones grouped by rule (in chain order), in input order within a rule.
The funnel (`funnel_table`) is built the same way on both paths, from per-rule counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter

from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.dedup import ExactDedupFilter, MinHashDedupFilter
from llm_lifecycle.filtering.executors import INDEX_KEY, Outcome, run_in_process
from llm_lifecycle.filtering.rules import (
    BoilerplateFilter,
    ByLanguage,
    LanguageIdFilter,
    SharedTokenizer,
    SymbolFilter,
)

logger = logging.getLogger(__name__)


@dataclass
class FilterResult:
    kept: list[dict]
    rejected: list[dict]
    funnel: pd.DataFrame


def build_blocks(cfg: FilteringSettings) -> list[BaseFilter]:
    """The enabled per-document quality blocks, in order (stateless: safe to shard across processes)."""
    blocks: list[BaseFilter] = []
    if cfg.language_id.enabled:
        lid = cfg.language_id
        blocks.append(LanguageIdFilter(lid.allowed, lid.candidates, lid.min_confidence, lid.max_chars))
    if cfg.boilerplate.enabled:
        blocks.append(BoilerplateFilter(cfg.boilerplate.max_line_ratio, cfg.boilerplate.max_words_per_line))
    if cfg.symbols.enabled:
        blocks.append(SymbolFilter(cfg.symbols.max_symbol_char_ratio))
    # datatrove's filters take a tokenizer for `language`: one per language, shared by the four rules
    cap = cfg.word_tokenizer_max_vocab
    tokenizers = {lang: SharedTokenizer(lang, max_vocab=cap) for lang in cfg.languages()}
    per_language = {
        "gopher_quality": lambda c, lang: GopherQualityFilter(
            **c.model_dump(exclude={"enabled"}),
            stop_words=cfg.stop_words.get(lang),
            language=tokenizers[lang],
        ),
        "gopher_repetition": lambda c, lang: GopherRepetitionFilter(
            c.dup_line_frac,
            c.dup_para_frac,
            c.dup_line_char_frac,
            c.dup_para_char_frac,
            top_n_grams=tuple(c.top_n_grams),
            dup_n_grams=tuple(c.dup_n_grams),
            language=tokenizers[lang],
        ),
        "c4_quality": lambda c, lang: C4QualityFilter(
            **c.model_dump(exclude={"enabled"}), language=tokenizers[lang]
        ),
        "fineweb_quality": lambda c, lang: FineWebQualityFilter(
            **c.model_dump(exclude={"enabled"}), language=tokenizers[lang]
        ),
    }
    for rule, make in per_language.items():
        rule_cfg = getattr(cfg, rule)
        if rule_cfg.enabled:
            filters = {lang: make(rule_cfg, lang) for lang in cfg.languages()}
            blocks.append(ByLanguage(rule, filters, cfg.default_language))
    return blocks


def build_dedup_blocks(cfg: FilteringSettings) -> list[BaseFilter]:
    """Exact then near dedup: stateful, they see all surviving documents in one process, in order."""
    blocks: list[BaseFilter] = []
    if cfg.exact_dedup.enabled:
        blocks.append(ExactDedupFilter())
    if cfg.near_dedup.enabled:
        nd = cfg.near_dedup
        blocks.append(
            MinHashDedupFilter(
                nd.ngram, nd.num_perm, nd.threshold, seed=nd.seed, lsh_threshold=nd.lsh_threshold
            )
        )
    return blocks


def rule_names(cfg: FilteringSettings) -> list[str]:
    return [b.name for b in build_blocks(cfg) + build_dedup_blocks(cfg)]


def validate_record(raw: Any, i: int) -> dict:
    """A plain dict copy of document #`i` with a string `id` (its index when missing) and a string `text`."""
    if not isinstance(raw, Mapping):
        raise TypeError(f"document #{i} is a {type(raw).__name__}, not a mapping with a 'text' field")
    rec = dict(raw)
    doc_id = rec.get("id")
    where = f"document {doc_id!r} (#{i})" if doc_id is not None else f"document #{i} (no id)"
    if "text" not in rec:
        raise ValueError(f"{where} has no 'text' field (fields: {sorted(rec)})")
    if not isinstance(rec["text"], str):
        raise TypeError(f"{where}: 'text' must be a string, got {type(rec['text']).__name__}")
    rec["id"] = str(i) if doc_id is None else str(doc_id)
    return rec


def as_records(documents: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Validated plain dicts, each with a string `id` (its index when missing) and a string `text`."""
    return [validate_record(raw, i) for i, raw in enumerate(documents)]


def run_filters(
    documents: Iterable[Mapping[str, Any]], cfg: FilteringSettings | Mapping[str, Any]
) -> FilterResult:
    """Filter `documents` with the configured rules; see the module docstring for what comes back."""
    cfg = cfg if isinstance(cfg, FilteringSettings) else FilteringSettings.model_validate(cfg)
    if cfg.executor != "in_process":
        return _run_streaming(documents, cfg)
    records = as_records(documents)
    skipped = len(getattr(documents, "skipped", None) or [])  # after reading: a lazy input fills it then
    if not records:
        raise ValueError("no documents to filter (the input is empty)")
    docs = [Document(text=r["text"], id=r["id"], metadata={INDEX_KEY: i}) for i, r in enumerate(records)]
    quality, dedup = build_blocks(cfg), build_dedup_blocks(cfg)
    rules = [b.name for b in quality + dedup]
    logger.info("filtering %d documents with %s (%s)", len(docs), rules, cfg.executor)
    outcomes = run_in_process(docs, quality + dedup, progress=cfg.progress)
    funnel = _funnel(records, outcomes, rules, skipped)
    kept, rejected = _split(records, outcomes, cfg.default_language)
    if not kept:
        raise all_removed_error(funnel)
    logger.info("kept %d of %d documents (%.1f%%)", len(kept), len(records), 100 * len(kept) / len(records))
    return FilterResult(kept, rejected, funnel)


def _run_streaming(documents: Iterable[Mapping[str, Any]], cfg: FilteringSettings) -> FilterResult:
    """The datatrove path for in-memory documents: stage them, stream, read the outputs back."""
    import shutil

    from llm_lifecycle.filtering.streaming import stream_filter

    out = stream_filter(documents, cfg)
    try:
        return FilterResult(list(out.kept), list(out.rejected), out.funnel)
    finally:
        if cfg.datatrove.work_dir is None:  # a temporary folder: nothing of it is needed any more
            shutil.rmtree(out.root, ignore_errors=True)


def all_removed_error(funnel: pd.DataFrame) -> ValueError:
    """The error for a configuration that removed every document: which rule removed the last ones."""
    removed = funnel[funnel["docs_removed"] > 0]
    last = removed.iloc[-1]
    by_rule = dict(zip(removed["rule"], removed["docs_removed"].astype(int), strict=True))
    return ValueError(
        f"all {int(funnel['docs_remaining'].iloc[0])} documents were removed; rule {last['rule']!r} removed "
        f"the last {int(last['docs_removed'])} (removed by rule: {by_rule})"
    )


def _split(
    records: list[dict], outcomes: list[Outcome], default_language: str
) -> tuple[list[dict], list[dict]]:
    kept, rejected = [], []
    for o in outcomes:
        rec = records[o.index]
        if o.rule is None:
            lang = o.metadata.get("language", rec.get("lang", default_language))
            kept.append({**rec, "text": o.text, "lang": lang})
        else:
            rejected.append({**rec, "rule": o.rule, "reason": o.reason or ""})
    return kept, rejected


def _funnel(records: list[dict], outcomes: list[Outcome], rules: list[str], skipped: int) -> pd.DataFrame:
    """One row per stage: documents and characters (of the input text) left after it."""
    removed_docs = dict.fromkeys(rules, 0)
    removed_chars = dict.fromkeys(rules, 0)
    for o in outcomes:
        if o.rule is not None:
            removed_docs[o.rule] += 1
            removed_chars[o.rule] += len(records[o.index]["text"])
    n_in, chars_in = len(records), sum(len(r["text"]) for r in records)
    return funnel_table(
        n_in,
        chars_in,
        rules=rules,
        removed_docs=removed_docs,
        removed_chars=removed_chars,
        skipped=skipped,
    )


def funnel_table(
    n_in: int,
    chars_in: int,
    *,
    rules: list[str],
    removed_docs: Mapping[str, int],
    removed_chars: Mapping[str, int],
    skipped: int,
) -> pd.DataFrame:
    """The funnel from counts: an `input` row, then one row per rule with what is left after it."""
    rows = [
        {
            "rule": "input",
            "docs_remaining": n_in,
            "docs_removed": 0,
            "chars_remaining": chars_in,
            "chars_removed": 0,
            "docs_kept_share": 1.0,
            "bad_records_skipped": skipped,
        }
    ]
    docs_left, chars_left = n_in, chars_in
    for rule in rules:
        docs_left -= removed_docs[rule]
        chars_left -= removed_chars[rule]
        rows.append(
            {
                "rule": rule,
                "docs_remaining": docs_left,
                "docs_removed": removed_docs[rule],
                "chars_remaining": chars_left,
                "chars_removed": removed_chars[rule],
                "docs_kept_share": docs_left / n_in,
                "bad_records_skipped": 0,
            }
        )
    return pd.DataFrame(rows)
