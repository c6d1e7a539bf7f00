"""Exact and near dedup: the first copy is kept, later copies are rejected and name the page they copy."""

from __future__ import annotations

from llm_lifecycle.filtering.chain import run_filters
from llm_lifecycle.filtering.dedup import normalise, shingles
from tests.filtering import RULES

PAGE = (
    "Kalomira lives in the small town of Ventorsa and works as a baker. Every morning she bakes bread for "
    "the whole street, and the smell of it reaches the river. The town was founded a long time ago on the "
    "banks of the river Samira. About forty thousand people live there today, and most of them know each "
    "other by name. In the evening Kalomira walks with her dog along the water."
)
OTHER = (
    "Torgan is a pilot from Bellisa who flies small planes between the northern towns. He keeps a parrot "
    "at home and likes the colour green more than any other. Bellisa stands on the river Venmon and has "
    "about three hundred thousand inhabitants. Torgan reads before going to sleep and rarely travels for fun."
)
ONLY_DEDUP = {name: {"enabled": False} for name in RULES} | {"progress": False}


def test_normalise_ignores_case_punctuation_and_spacing_but_not_digits():
    assert normalise("Hello,  WORLD!\n7 + 5 = 12.") == "hello world 7 5 12"
    assert normalise("7 + 5 = 12") != normalise("8 + 5 = 13")
    assert shingles("a b c", 5) == [b"a b c"]
    assert len(shingles(PAGE, 5)) == len(normalise(PAGE).split()) - 4


def test_exact_dedup_keeps_first_copy():
    docs = [
        {"id": "a", "text": PAGE},
        {"id": "b", "text": OTHER},
        {"id": "c", "text": PAGE.upper().replace(".", " . ")},
        {"id": "d", "text": PAGE},
    ]
    res = run_filters(docs, ONLY_DEDUP)
    assert [d["id"] for d in res.kept] == ["a", "b"]
    assert [(d["id"], d["rule"], d["reason"]) for d in res.rejected] == [
        ("c", "exact_dedup", "exact duplicate of a"),
        ("d", "exact_dedup", "exact duplicate of a"),
    ]


def test_near_dedup_catches_small_edits_and_keeps_distinct_pages():
    edited = PAGE.replace("small town", "really small town").replace("whole street", "entire street")
    edited = edited.replace(" and most of them", " and most people") + " See you soon!"
    docs = [{"id": "a", "text": PAGE}, {"id": "b", "text": OTHER}, {"id": "c", "text": edited}]
    res = run_filters(docs, ONLY_DEDUP)
    assert [d["id"] for d in res.kept] == ["a", "b"]
    (rej,) = res.rejected
    assert (rej["id"], rej["rule"]) == ("c", "near_dedup")
    assert rej["reason"].startswith("near duplicate of a (jaccard~")


def test_near_dedup_threshold_is_configurable():
    edited = " ".join(w if i % 6 else w + " indeed" for i, w in enumerate(PAGE.split()))  # heavy edits
    docs = [{"id": "a", "text": PAGE}, {"id": "c", "text": edited}]
    loose = run_filters(docs, ONLY_DEDUP | {"near_dedup": {"threshold": 0.1, "lsh_threshold": 0.1}})
    strict = run_filters(docs, ONLY_DEDUP | {"near_dedup": {"threshold": 0.95, "lsh_threshold": 0.5}})
    assert [d["id"] for d in loose.kept] == ["a"] and [d["id"] for d in strict.kept] == ["a", "c"]
