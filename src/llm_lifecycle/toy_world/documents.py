"""Web-like pages about the toy world, mixed with labelled crawl noise: the input of `data_filtering`.

Design: clean pages state the world's facts (people, cities), plus small worked sums and word games, in
Russian and English, so a tiny LLaMA trained on the filtered corpus can learn them. Every fact is
stated in both languages many times, each time with a randomly chosen template, sentence order and
mix of entities, so that two clean pages share few word 5-grams and MinHash near-dedup (Broder 1997)
leaves them alone. Noise imitates what a web crawl brings (cf. the failure modes the Gopher, C4 and
FineWeb heuristics target: Rae et al. 2021, Raffel et al. 2020, Penedo et al. 2024): exact and near
copies, navigation/cookie/legal boilerplate, gibberish and mojibake, too-short pages, symbol soup,
repeated lines, SEO n-gram spam, and pages about the same world in German, French, Spanish and
Ukrainian (so the topic alone does not give them away).

The labels (`{"id", "label", "kind"}`) are returned separately: the filters never see them, only the
evaluation does. For duplicated pages the earliest copy in the output order is the clean one. Output is
a pure function of (world, config, seed): one `random.Random(seed)`, no set-order dependence.

This module assembles the corpus; the parts live next to it: `config.DocumentsSettings` (sizes and noise
shares), `fact_templates.py` (the sentences that state facts), `clean_pages.py` (clean pages),
`noise.py` (one maker per noise kind) and `documents_text.py` (the wording tables).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable

from llm_lifecycle.toy_world.clean_pages import Cycler, clean_page
from llm_lifecycle.toy_world.config import DocumentsSettings
from llm_lifecycle.toy_world.documents_text import SITES
from llm_lifecycle.toy_world.noise import (
    boilerplate,
    foreign_language,
    gibberish,
    near_copy,
    repeated_lines,
    repeated_ngrams,
    symbol_heavy,
    too_short,
)
from llm_lifecycle.toy_world.world import World


def _fmt(rng: random.Random, world: World, lang: str) -> dict:
    """The `{p}`, `{c}`, ... fields of a noise page's templates, for a random person of the world."""
    p = rng.choice(world.people)
    c = world.city_of(p)
    ru = lang == "ru"
    return {
        "p": p.name.ru if ru else p.name.en,
        "c": c.name.ru if ru else c.name.en,
        "country": c.country.ru if ru else c.country.en,
        "pet": p.pet.ru if ru else p.pet.en,
        "prof": p.profession.ru if ru else p.profession.en,
        "site": rng.choice(SITES[lang]),
    }


def _url(rng: random.Random, lang: str, k: int) -> str:
    site = rng.choice(SITES[lang]) if lang in SITES else f"{lang}-news.example"
    return f"https://{site}/page/{k}-{rng.randrange(10**6):06d}"


def generate_documents(world: World, cfg: DocumentsSettings, seed: int) -> tuple[list[dict], list[dict]]:
    """Raw pages `{"id", "text", "url", "lang"}` and their labels `{"id", "label", "kind"}` (same order)."""
    rng = random.Random(seed)
    n_ru = round(cfg.ru_share * cfg.n_clean)
    cyclers = {lang: (Cycler(world.people, rng), Cycler(world.cities, rng)) for lang in ("ru", "en")}
    # items: (text, lang, kind, group); group links a clean page with its copies (-1: none)
    items: list[tuple[str, str, str, int]] = []
    for k in range(cfg.n_clean):
        lang = "ru" if k < n_ru else "en"
        items.append((clean_page(rng, world, cfg, lang, cyclers=cyclers[lang], k=k), lang, "clean", k))
    clean = list(items)

    def count(share: float) -> int:
        return round(share * cfg.n_clean)

    shares = cfg.noise
    for kind in ("exact_duplicate", "near_duplicate"):
        share = getattr(shares, kind)
        for text, lang, _, group in rng.sample(clean, min(len(clean), count(share))):
            copy = text if kind == "exact_duplicate" else near_copy(rng, text, lang)
            items.append((copy, lang, kind, group))
    makers: dict[str, Callable[[str], str]] = {
        "boilerplate": lambda lang: boilerplate(rng, world, lang, _fmt(rng, world, lang)),
        "gibberish": lambda lang: gibberish(rng, lang),
        "too_short": lambda lang: too_short(rng, world, lang),
        "symbol_heavy": lambda lang: symbol_heavy(rng, lang, _fmt(rng, world, lang)),
        "repeated_lines": lambda lang: repeated_lines(rng, world, lang),
        "repeated_ngrams": lambda lang: repeated_ngrams(rng, lang, _fmt(rng, world, lang)),
    }
    for kind, make in makers.items():
        for _ in range(count(getattr(shares, kind))):
            lang = rng.choice(["ru", "en"])
            items.append((make(lang), lang, kind, -1))
    for i in range(count(shares.foreign_language)):
        lang = ("de", "fr", "es", "uk")[i % 4]
        items.append((foreign_language(rng, world, lang), lang, "foreign_language", -1))

    rng.shuffle(items)
    _clean_copy_first(items)
    docs, labels = [], []
    for k, (raw, lang, kind, _) in enumerate(items):
        doc_id = f"doc-{k:05d}"
        text = unicodedata.normalize("NFC", raw)
        docs.append({"id": doc_id, "text": text, "url": _url(rng, lang, k), "lang": lang})
        labels.append({"id": doc_id, "label": "clean" if kind == "clean" else "noise", "kind": kind})
    return docs, labels


def _clean_copy_first(items: list[tuple[str, str, str, int]]) -> None:
    """Within each group of copies, move the clean original to the group's earliest position (in place)."""
    positions: dict[int, list[int]] = {}
    for pos, (_, _, _, group) in enumerate(items):
        if group >= 0:
            positions.setdefault(group, []).append(pos)
    for group_positions in positions.values():
        first = group_positions[0]
        original = next(p for p in group_positions if items[p][2] == "clean")
        items[first], items[original] = items[original], items[first]
