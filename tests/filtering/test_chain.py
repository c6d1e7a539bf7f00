"""`run_filters`: inputs it accepts, what it returns, the funnel, and its errors."""

from __future__ import annotations

import pytest

from llm_lifecycle.filtering.chain import run_filters
from llm_lifecycle.filtering.config import FilteringSettings
from tests.filtering import RULES

EN = (
    "Kalomira lives in the small town of Ventorsa and works as a baker. Every morning she bakes bread for "
    "the whole street, and the smell of it reaches the river.\n\n"
    "The town was founded a long time ago on the banks of the river Samira. About forty thousand people "
    "live there today, and most of them know each other by name.\n\n"
    "In the evening Kalomira walks with her dog along the water. On Sundays friends come to visit, and "
    "they talk about the news of the week while the tea gets cold on the table."
)
RU = (
    "Торган работает пилотом и живёт в городе Беллиса. Каждое утро он пьёт чай и читает новости, а потом "
    "идёт на аэродром, который стоит у реки.\n\n"
    "Беллиса была основана очень давно. Сейчас там живёт около трёхсот тысяч человек, и по субботам на "
    "старой площади шумит большой рынок.\n\n"
    "Дома у Торгана живёт попугай. Вечером они вместе слушают радио, а по воскресеньям к ним приходят "
    "друзья, и все говорят о новостях недели."
)
DE = (
    "Kalomira wohnt in der kleinen Stadt Ventorsa und arbeitet als Bäckerin. Jeden Morgen backt sie Brot "
    "für die ganze Straße, und der Duft erreicht den Fluss. Die Stadt wurde vor langer Zeit gegründet."
)
CFG = FilteringSettings(progress=False)


class Records(list):
    """Like the project's JSONL Records: a list that remembers skipped bad lines."""

    skipped = ["raw.jsonl:3: not JSON", "raw.jsonl:9: 'text' missing"]


def test_kept_and_rejected_records_and_funnel():
    docs = Records(
        [
            {"id": "en", "text": EN, "url": "u1", "lang": "xx"},
            {"id": "de", "text": DE, "url": "u2"},
            {"id": "ru", "text": RU, "url": "u3"},
            {"id": "short", "text": "Hello there, friend."},
        ]
    )
    res = run_filters(docs, CFG)
    assert [(d["id"], d["lang"], d["url"]) for d in res.kept] == [("en", "en", "u1"), ("ru", "ru", "u3")]
    assert {d["id"]: (d["rule"], d["reason"]) for d in res.rejected} == {
        "de": ("language_id", "language_de"),
        "short": ("gopher_quality", "gopher_short_doc"),
    }
    assert res.rejected[0]["url"] == "u2"  # original fields travel with the rejects
    f = res.funnel
    assert list(f["rule"]) == ["input", *RULES, "exact_dedup", "near_dedup"]
    assert list(f["docs_remaining"])[0] == 4 and list(f["docs_remaining"])[-1] == 2
    assert f["docs_removed"].sum() == 2
    assert f["bad_records_skipped"].tolist()[0] == 2
    assert f["chars_remaining"].iloc[0] == sum(len(d["text"]) for d in docs)
    assert f["docs_kept_share"].iloc[-1] == pytest.approx(0.5)


def test_ids_come_from_the_index_when_missing():
    res = run_filters([{"text": EN}, {"text": RU}, {"text": EN}], CFG)
    assert [d["id"] for d in res.kept] == ["0", "1"]
    assert res.rejected[0]["id"] == "2" and res.rejected[0]["reason"] == "exact duplicate of 0"


def test_accepts_a_hf_dataset():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"id": "en", "text": EN}, {"id": "de", "text": DE}])
    assert [d["id"] for d in run_filters(ds, CFG).kept] == ["en"]


def test_missing_or_non_string_text_names_the_record():
    with pytest.raises(ValueError, match=r"document 'b' \(#1\) has no 'text' field"):
        run_filters([{"id": "a", "text": EN}, {"id": "b", "body": EN}], CFG)
    with pytest.raises(TypeError, match=r"document #1 \(no id\): 'text' must be a string, got NoneType"):
        run_filters([{"text": EN}, {"text": None}], CFG)
    with pytest.raises(TypeError, match="document #0 is a str"):
        run_filters([EN], CFG)
    with pytest.raises(ValueError, match="input is empty"):
        run_filters([], CFG)


def test_empty_result_names_the_rule_that_removed_the_last_documents():
    docs = [{"id": f"de{i}", "text": DE} for i in range(3)]
    docs += [{"id": f"s{i}", "text": f"Hello there, friend {i}."} for i in range(9)]
    expected = "all 12 documents were removed; rule 'gopher_quality' removed the last 9"
    with pytest.raises(ValueError, match=expected):
        run_filters(docs, CFG)


def test_empty_text_is_rejected_not_crashing():
    res = run_filters([{"id": "e", "text": ""}, {"id": "en", "text": EN}], CFG)
    assert [d["id"] for d in res.kept] == ["en"] and res.rejected[0]["rule"] == "language_id"
