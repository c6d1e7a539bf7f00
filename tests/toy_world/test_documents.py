"""The toy web corpus: deterministic, bilingual, every fact stated in both languages, every noise kind."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from llm_lifecycle.toy_world.config import NOISE_KINDS, DocumentsSettings
from llm_lifecycle.toy_world.documents import generate_documents
from llm_lifecycle.toy_world.world import make_world

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@pytest.fixture(scope="module")
def world():
    return make_world(42)


@pytest.fixture(scope="module")
def corpus(world):
    return generate_documents(world, DocumentsSettings(), seed=42)


def test_same_seed_same_output_different_seed_different(world):
    cfg = DocumentsSettings(n_clean=80)
    a = generate_documents(world, cfg, seed=3)
    assert a == generate_documents(world, cfg, seed=3)
    assert a != generate_documents(world, cfg, seed=4)


def test_record_shapes_and_labels(corpus):
    docs, labels = corpus
    assert [d["id"] for d in docs] == [lab["id"] for lab in labels]
    assert len({d["id"] for d in docs}) == len(docs)
    for doc in docs:
        assert set(doc) == {"id", "text", "url", "lang"}
        assert doc["text"].strip() and doc["url"].startswith("https://")
    kinds = Counter(lab["kind"] for lab in labels)
    assert set(kinds) == {"clean", *NOISE_KINDS}  # every noise kind present
    assert kinds["clean"] == DocumentsSettings().n_clean
    assert all((lab["label"] == "clean") == (lab["kind"] == "clean") for lab in labels)


def test_clean_pages_are_bilingual_long_and_big_enough(corpus):
    docs, labels = corpus
    clean = [d for d, lab in zip(docs, labels, strict=True) if lab["label"] == "clean"]
    langs = Counter(d["lang"] for d in clean)
    assert abs(langs["ru"] - langs["en"]) <= 1
    assert min(len(d["text"].split()) for d in clean) >= 80  # well above Gopher's 50-word floor
    assert 500_000 <= sum(len(d["text"]) for d in clean) <= 1_200_000
    assert all("\n\n" in d["text"] for d in clean)  # multi-paragraph


def test_duplicates_come_after_their_clean_original(corpus):
    docs, labels = corpus
    first_seen: dict[str, str] = {}
    for doc, lab in zip(docs, labels, strict=True):
        first_seen.setdefault(doc["text"], lab["label"])
    assert set(first_seen.values()) == {"clean", "noise"}
    # every text that occurs more than once was first seen on a clean page
    counts = Counter(d["text"] for d in docs)
    assert all(first_seen[text] == "clean" for text, n in counts.items() if n > 1)


def _sentence_words(text: str) -> list[set[str]]:
    return [set(re.findall(r"\w+", sentence)) for sentence in _SENTENCE_END.split(text)]


def test_every_fact_is_stated_in_both_languages_several_times(world, corpus):
    """A fact counts on a page when one sentence names both its subject and its value (nominative forms:
    the Russian templates avoid declining the invented names)."""
    docs, labels = corpus
    pages = {"en": [], "ru": []}
    for doc, lab in zip(docs, labels, strict=True):
        if lab["label"] == "clean":
            pages[doc["lang"]].append(_sentence_words(doc["text"]))
    counts = {}
    for fact in world.facts:
        for lang in ("en", "ru"):
            subject, value = getattr(fact.subject, lang), getattr(fact.value, lang)
            counts[(subject, fact.relation, lang)] = sum(
                any(subject in words and value in words for words in page) for page in pages[lang]
            )
    rare = {k: n for k, n in counts.items() if n < 5}
    assert not rare, f"facts stated on fewer than 5 pages: {rare}"


def test_foreign_pages_speak_about_the_same_world(world, corpus):
    docs, labels = corpus
    foreign = [d for d, lab in zip(docs, labels, strict=True) if lab["kind"] == "foreign_language"]
    assert {d["lang"] for d in foreign} == {"de", "fr", "es", "uk"}
    names = {p.name.en for p in world.people} | {p.name.ru for p in world.people}
    assert all(any(name in d["text"] for name in names) for d in foreign)


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="extra"):
        DocumentsSettings.model_validate({"n_clean": 10, "n_noise": 3})
