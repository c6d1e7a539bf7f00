"""Each configured rule on small hand-made pages: one that passes, one that fails, with the reason."""

from __future__ import annotations

import pytest
from datatrove.data import Document

from llm_lifecycle.filtering.chain import build_blocks
from llm_lifecycle.filtering.config import EN_STOP_WORDS, FilteringSettings
from llm_lifecycle.filtering.rules import LanguageIdFilter, is_boilerplate_line, symbol_char_ratio
from tests.filtering import RULES

EN_PAGE = (
    "Kalomira lives in the small town of Ventorsa and works as a baker. Every morning she bakes bread for "
    "the whole street, and the smell of it reaches the river.\n\n"
    "The town was founded a long time ago on the banks of the river Samira. About forty thousand people "
    "live there today, and most of them know each other by name.\n\n"
    "In the evening Kalomira walks with her dog along the water. On Sundays friends come to visit, and "
    "they talk about the news of the week while the tea gets cold on the table."
)
RU_PAGE = (
    "Каломира живёт в небольшом городе Венторса и работает пекарем. Каждое утро она печёт хлеб для "
    "всей улицы, и запах доходит до самой реки.\n\n"
    "Город основали очень давно на берегу реки Самира. Сейчас там живёт около сорока тысяч человек, и "
    "многие из них знают друг друга по имени.\n\n"
    "Вечером Каломира гуляет с собакой вдоль воды. По воскресеньям к ней приходят друзья, и они говорят "
    "о новостях недели, пока чай остывает на столе."
)
DE_PAGE = (
    "Kalomira wohnt in der kleinen Stadt Ventorsa und arbeitet als Bäckerin. Jeden Morgen backt sie Brot "
    "für die ganze Straße, und der Duft erreicht den Fluss. Die Stadt wurde vor langer Zeit gegründet."
)


def _block(name: str, cfg: FilteringSettings | None = None):
    blocks = {b.name: b for b in build_blocks(cfg or FilteringSettings(progress=False))}
    return blocks[name]


def _doc(text: str, lang: str | None = None) -> Document:
    return Document(text=text, id="t", metadata={"language": lang} if lang else {})


def _result(block, doc: Document) -> tuple[bool, str | None]:
    out = block.filter(doc)
    return (out[0], out[1]) if isinstance(out, tuple) else (out, None)


# ---------------------------------------------------------------------------------------- language id
@pytest.mark.parametrize(("text", "lang"), [(EN_PAGE, "en"), (RU_PAGE, "ru")])
def test_language_id_keeps_allowed_languages_and_records_them(text, lang):
    doc = _doc(text)
    assert _result(_block("language_id"), doc) == (True, None)
    assert doc.metadata["language"] == lang and doc.metadata["language_score"] > 0.9


def test_language_id_rejects_other_languages():
    assert _result(_block("language_id"), _doc(DE_PAGE)) == (False, "language_de")
    uk = "Каломира живе в місті Венторса і щодня ходить пішки. Вона працює пекарем і має собаку."
    assert _result(_block("language_id"), _doc(uk)) == (False, "language_uk")


def test_language_id_rejects_low_confidence_and_no_language():
    lid = LanguageIdFilter(
        allowed=["en", "es"], candidates=["en", "es", "de"], min_confidence=0.65, max_chars=500
    )
    keep, reason = _result(lid, _doc("Kalomira Ventorsa Beldor"))  # invented names only: no clear language
    assert not keep and reason.startswith("low_confidence_")
    assert _result(lid, _doc("12345 678 !!!")) == (False, "no_language")


def test_language_id_pickles_without_its_detector():
    import pickle

    lid = _block("language_id")
    lid.filter(_doc(EN_PAGE))  # builds the (unpicklable) detector
    clone = pickle.loads(pickle.dumps(lid))
    assert clone._detector is None and _result(clone, _doc(EN_PAGE)) == (True, None)


# ---------------------------------------------------------------------------------------- boilerplate
@pytest.mark.parametrize(
    "line",
    [
        "Home | News | Contact",
        "Главная » Люди » Венторса",
        "© 2024 Example. All rights reserved.",
        "Мы используем файлы cookie, чтобы сайт работал лучше.",
        "Войти | Регистрация",
        "Подпишитесь на рассылку",
    ],
)
def test_boilerplate_lines(line):
    assert is_boilerplate_line(line, max_words=25)


def test_boilerplate_keyword_in_long_prose_is_not_boilerplate():
    prose = (
        "We share our bread with the neighbours every Sunday, and the children of the street come to "
        "help us carry the baskets down to the river where everyone meets after lunch."
    )
    assert not is_boilerplate_line(prose, max_words=25)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_boilerplate_filter(lang):
    page = {
        "en": "Home | News | Contact\nSign in | Register\nWe use cookies. Accept all | Reject\n"
        "© 2024 Example. All rights reserved.\nKalomira lives in Ventorsa.",
        "ru": "Главная | Новости | Контакты\nВойти | Регистрация\nМы используем файлы cookie.\n"
        "© 2024 Пример. Все права защищены.\nКаломира живёт в городе Венторса.",
    }[lang]
    block = _block("boilerplate")
    assert _result(block, _doc(page)) == (False, "boilerplate_line_ratio")
    clean = "Home | News | Contact\n" + (EN_PAGE if lang == "en" else RU_PAGE)  # one menu line is fine
    assert _result(block, _doc(clean)) == (True, None)


# ---------------------------------------------------------------------------------------- symbols
def test_symbol_filter():
    soup = "★★★ Ventorsa ★★★ | →→ best hotels ✓✓✓ ♥♥ #travel ### ... ►► Ventorsa ■■ ▲"
    assert symbol_char_ratio(soup) > 0.3
    assert _result(_block("symbols"), _doc(soup)) == (False, "symbol_char_ratio")
    arithmetic = EN_PAGE + "\n\nA small sum: 7 + 5 = 12, and 12 - 5 = 7."
    assert _result(_block("symbols"), _doc(arithmetic)) == (True, None)


# ---------------------------------------------------------------------------------------- Gopher quality
def test_gopher_quality_judges_each_language_with_its_own_stop_words():
    block = _block("gopher_quality")
    assert _result(block, _doc(RU_PAGE, "ru")) == (True, None)
    assert _result(block, _doc(EN_PAGE, "en")) == (True, None)
    # The same Russian page judged with the English settings has none of the English stop words.
    assert _result(block, _doc(RU_PAGE, "en")) == (False, "gopher_enough_stop_words")


def test_russian_needs_russian_stop_words():
    cfg = FilteringSettings(progress=False, stop_words={"en": EN_STOP_WORDS, "ru": EN_STOP_WORDS})
    assert _result(_block("gopher_quality", cfg), _doc(RU_PAGE, "ru")) == (False, "gopher_enough_stop_words")


def test_gopher_quality_rejects_short_and_non_alphabetic_pages():
    block = _block("gopher_quality")
    short = "Kalomira lives in Ventorsa with the dog."
    assert _result(block, _doc(short, "en")) == (False, "gopher_short_doc")
    table = "\n".join(f"{1000 + i} | {7000 + i} | {13000 + i} | {17000 + i} | of the" for i in range(20))
    assert _result(block, _doc(table, "en")) == (False, "gopher_below_alpha_threshold")


# ---------------------------------------------------------------------------------------- Gopher repetition
def test_gopher_repetition():
    block = _block("gopher_repetition")
    assert _result(block, _doc(EN_PAGE, "en")) == (True, None)
    assert _result(block, _doc(RU_PAGE, "ru")) == (True, None)
    repeated = "\n".join(["Kalomira lives in Ventorsa and works as a baker."] * 8 + ["She has a dog."])
    assert _result(block, _doc(repeated, "en")) == (False, "dup_line_frac")
    spam = " ".join(["дешёвые билеты в город Венторса лучшие отели в городе Венторса"] * 12)
    keep, reason = _result(block, _doc(spam, "ru"))
    assert not keep and reason.startswith(("top_", "duplicated_"))


# ---------------------------------------------------------------------------------------- C4 and FineWeb
def test_c4_quality_rejects_and_edits():
    block = _block("c4_quality")
    lorem = EN_PAGE + "\n\nLorem ipsum dolor sit amet, consectetur."
    assert _result(block, _doc(lorem, "en")) == (False, "lorem_ipsum")
    code = EN_PAGE + "\n\nvar x = {a: 1}; console.log(x);"
    assert _result(block, _doc(code, "en")) == (False, "curly_bracket")
    assert _result(block, _doc("Kalomira bakes bread. It is good.", "en")) == (False, "too_few_sentences")
    doc = _doc(EN_PAGE + "\n\nPlease enable JavaScript to see the comments.", "en")
    assert _result(block, doc) == (True, None)
    assert "JavaScript" not in doc.text and "Kalomira walks" in doc.text  # C4 drops the line, keeps the page


def test_fineweb_quality():
    block = _block("fineweb_quality")
    assert _result(block, _doc(RU_PAGE, "ru")) == (True, None)
    no_punct = "\n".join(f"Kalomira and the bakery of Ventorsa, part {i}, with photos" for i in range(12))
    assert _result(block, _doc(no_punct, "en")) == (False, "line_punct_ratio")
    dup_lines = EN_PAGE + "\n" + "Kalomira walks with her dog along the water every evening.\n" * 2
    assert _result(block, _doc(dup_lines, "en")) == (False, "char_dup_ratio")


def test_rule_order_and_names():
    assert tuple(b.name for b in build_blocks(FilteringSettings())) == RULES
    cfg = FilteringSettings.model_validate({"symbols": {"enabled": False}, "c4_quality": {"enabled": False}})
    assert [b.name for b in build_blocks(cfg)][2:4] == ["gopher_quality", "gopher_repetition"]


def test_config_is_strict():
    with pytest.raises(ValueError, match="extra"):
        FilteringSettings.model_validate({"gopher_quality": {"min_doc_word": 10}})
    with pytest.raises(ValueError, match="stop_words"):
        FilteringSettings.model_validate({"stop_words": {"en": EN_STOP_WORDS}})
    with pytest.raises(ValueError, match="candidates"):
        FilteringSettings.model_validate({"language_id": {"allowed": ["en", "pl"]}})
