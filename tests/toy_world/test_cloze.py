"""Cloze items: deterministic, well-formed, and phrased exactly as the pretraining pages phrase facts."""

from __future__ import annotations

from collections import Counter

import pytest

from llm_lifecycle.toy_world.cloze import RELATIONS, ClozeItem, all_cloze_items, cloze_items
from llm_lifecycle.toy_world.config import DocumentsSettings
from llm_lifecycle.toy_world.documents import generate_documents
from llm_lifecycle.toy_world.fact_templates import city_facts, person_facts
from llm_lifecycle.toy_world.world import PROFESSIONS, make_world


@pytest.fixture(scope="module")
def world():
    return make_world(7, n_cities=4, n_people=8)


@pytest.fixture(scope="module")
def clean_text(world):
    docs, labels = generate_documents(world, DocumentsSettings(n_clean=600), seed=7)
    return "\n".join(d["text"] for d, lab in zip(docs, labels, strict=True) if lab["label"] == "clean")


def test_deterministic_for_a_seed(world):
    a = cloze_items(world, seed=3, max_items=50)
    assert a == cloze_items(world, seed=3, max_items=50)
    assert a != cloze_items(world, seed=4, max_items=50)
    assert len(a) == 50 and all(isinstance(it, ClozeItem) for it in a)


def test_answer_is_among_candidates_once_and_candidates_are_alike(world):
    for it in cloze_items(world, seed=0):
        assert it.candidates.count(it.answer) == 1
        assert len(set(it.candidates)) == len(it.candidates) >= 2
        assert it.chance == pytest.approx(1 / len(it.candidates))
        assert it.answer.startswith(" ") and all(c.startswith(" ") for c in it.candidates)
        assert not it.prompt.endswith(" ") and it.subject in it.prompt
        # no candidate is a prefix of another: a shorter one cannot win by being shorter
        assert not any(a != b and b.startswith(a) for a in it.candidates for b in it.candidates)


def test_balanced_over_languages_and_relations(world):
    items = cloze_items(world, seed=0, max_items=36)
    groups = Counter((it.lang, it.relation) for it in items)
    assert set(groups) == {(lang, rel) for lang in ("ru", "en") for rel in RELATIONS}
    assert max(groups.values()) - min(groups.values()) <= 1
    assert {it.lang for it in cloze_items(world, seed=0, langs=("en",))} == {"en"}
    with pytest.raises(ValueError):
        cloze_items(world, seed=0, langs=("de",))


def test_candidate_pools(world):
    by_rel = {it.relation: it for it in cloze_items(world, seed=0, langs=("en",))}
    assert len(by_rel["city"].candidates) == len(world.cities)
    assert len(by_rel["profession"].candidates) == len(PROFESSIONS)
    assert len(by_rel["age"].candidates) == len({p.age for p in world.people})


def test_known_surface_forms(world):
    p = world.people[0]
    c = world.city_of(p)
    items = all_cloze_items(world)
    pairs = {(it.prompt, it.answer) for it in items}
    assert (f"{p.name.en} lives in", f" {c.name.en}.") in pairs
    assert (f"{p.name.ru} живёт в городе", f" {c.name.ru}.") in pairs
    assert (f"Everyone in town knows {p.name.en} as a good", f" {p.profession.en}.") in pairs
    assert (f"Все в городе знают, что {p.name.ru} — хороший", f" {p.profession.ru}.") in pairs
    assert (f"{c.name.en} is a city in", f" {c.country.en}.") in pairs


def test_every_item_is_a_template_sentence_prefix(world):
    """prompt + answer is the start of the rendered template sentence (checked against fact_templates.py)."""
    sentences = []
    for lang in ("ru", "en"):
        for p in world.people:
            sentences += [s for ss in person_facts(p, world.city_of(p), lang).values() for s in ss]
        for c in world.cities:
            sentences += [s for ss in city_facts(c, lang).values() for s in ss]
    for it in all_cloze_items(world):
        assert any(s.startswith(it.prompt + it.answer) for s in sentences), it


def test_prompts_and_answers_occur_in_generated_documents(world, clean_text):
    items = all_cloze_items(world)
    missing = [it for it in items if it.prompt + it.answer not in clean_text]
    assert not missing, missing[:3]
    # ... and a wrong candidate, in the same frame, never states a fact of the world's pages
    for it in items[:200]:
        for cand in it.candidates:
            if cand != it.answer:
                assert it.prompt + cand not in clean_text
