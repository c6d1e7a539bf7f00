"""Filter blocks datatrove lacks, written as datatrove blocks (`filter(doc) -> bool | (False, why)`).

- `LanguageIdFilter`: lingua-language-detector (its models ship in the wheel: no download, unlike
  datatrove's fastText `LanguageFilter`). Candidates are limited to a configured short list, which is
  faster and more accurate than all 75 languages. Writes `doc.metadata["language"]` for later blocks.
- `ByLanguage`: one instance of a datatrove filter per language, chosen by the detected language, so a
  Russian page is judged with Russian stop words and spaCy's Russian tokenizer, and an English page with
  English ones (datatrove's filters take a single `language` and default to English).
- `BoilerplateFilter`: share of lines that look like navigation menus, cookie/legal banners, login
  prompts (ru + en). C4 (Raffel et al. 2020) drops such lines one by one; a page made mostly of them is
  not worth keeping at all.
- `SymbolFilter`: share of symbol characters (Unicode category S*, plus '#', '|', '*', '~', '…').
  Gopher (Rae et al. 2021) counts only '#' and ellipses per word; symbol soup glued to words escapes it.
- `SharedTokenizer`: the language's datatrove word tokenizer, remembering the last document it split.
  Gopher quality, Gopher repetition, C4 and FineWeb each split the same page into words or sentences
  (six spaCy passes per page, most of the filtering time); datatrove's filters accept a tokenizer in
  place of a language name, so one instance per language answers the repeats from memory.

Every block carries `name` = its rule name, which the chain reports in the funnel and in each rejected
document's "rule". Blocks must pickle (datatrove's local executor ships them to worker processes), so
the lingua detector is built lazily in the process that uses it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import WordTokenizer, load_word_tokenizer


class SharedTokenizer(WordTokenizer):
    """`load_word_tokenizer(language)` with its answers for the most recent text kept (see the docstring).

    Results are copied out, so a filter that changes its list cannot change another's. Pickles with its
    language only: the spaCy tokenizer is loaded in the process that uses it.
    """

    def __init__(self, language: str):
        super().__init__(language)
        self._last: dict[str, tuple[str, list]] = {}

    def _cached(self, kind: str, text: str) -> list:
        hit = self._last.get(kind)
        if hit is None or hit[0] != text:
            tokenizer = load_word_tokenizer(self.language)
            hit = (text, getattr(tokenizer, kind)(text))
            self._last[kind] = hit
        return list(hit[1])

    def word_tokenize(self, text: str) -> list[str]:
        return self._cached("word_tokenize", text)

    def sent_tokenize(self, text: str) -> list[str]:
        return self._cached("sent_tokenize", text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self._cached("span_tokenize", text)

    def __getstate__(self) -> dict[str, Any]:
        return {"language": self.language, "_last": {}}


class LanguageIdFilter(BaseFilter):
    name = "language_id"

    def __init__(
        self,
        allowed: list[str],
        candidates: list[str],
        min_confidence: float,
        max_chars: int,
        exclusion_writer=None,
    ):
        super().__init__(exclusion_writer)
        self.allowed, self.candidates = list(allowed), list(candidates)
        self.min_confidence, self.max_chars = min_confidence, max_chars
        self._detector: Any = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_detector"] = None  # a Rust object: rebuilt in the worker process
        return state

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            langs = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in self.candidates]
            self._detector = LanguageDetectorBuilder.from_languages(*langs).build()
        return self._detector

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        values = self.detector.compute_language_confidence_values(doc.text[: self.max_chars])
        if not values or values[0].value <= 0:
            return False, "no_language"
        top = values[0]
        lang, score = top.language.iso_code_639_1.name.lower(), float(top.value)
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        if lang not in self.allowed:
            return False, f"language_{lang}"
        if score < self.min_confidence:
            return False, f"low_confidence_{lang}"
        return True


class ByLanguage(BaseFilter):
    """Dispatch to `filters[doc.metadata["language"]]` (or the default language's filter)."""

    def __init__(
        self, name: str, filters: dict[str, BaseFilter], default_language: str, exclusion_writer=None
    ):
        self.name = name  # before super().__init__: datatrove names the block's stats after it
        super().__init__(exclusion_writer)
        self.filters = filters
        self.default = default_language if default_language in filters else next(iter(filters))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang = doc.metadata.get("language", self.default)
        return self.filters.get(lang, self.filters[self.default]).filter(doc)


# Keywords of boilerplate lines, ru + en. Word stems, not exact strings: "регистрац" matches
# "регистрация" and "регистрации". Only short lines count (see BoilerplateFilter.max_words_per_line).
_BOILERPLATE_RE = re.compile(
    r"cookie|куки|all rights reserved|все права защищены|©|\(c\)\s*\d{4}|copyright|privacy policy|"
    r"политик\w* конфиденциальност|terms of (use|service)|пользовательск\w* соглашени|"
    r"\bsign (in|up)\b|\blog ?in\b|\bregister\b|войти|вход\b|регистрац|\baccount\b|аккаунт|"
    r"password|парол|subscribe|newsletter|подпиш|рассылк|\bshare\b|поделиться|read more|читать далее|"
    r"подробнее|back to top|наверх|javascript|related posts|похожие записи|^tags:|^метки:|"
    r"advertisement|^реклама|loading\.\.\.|загрузка\.\.\.|^search|^поиск|accept all|принять все|"
    r"previous page|next page|предыдущая страница|следующая страница|^(main )?menu\b|^меню\b",
    re.IGNORECASE,
)
_MENU_SEPARATORS = re.compile(r"\s[|·•/»›>]\s")


def is_boilerplate_line(line: str, max_words: int) -> bool:
    """A menu (several short items between separators) or a short line with a boilerplate keyword."""
    words = line.split()
    if not words or len(words) > max_words:
        return False
    items = [item for item in _MENU_SEPARATORS.split(line) if item.strip()]
    if len(items) >= 2 and all(len(item.split()) <= 3 for item in items):
        return True
    return bool(_BOILERPLATE_RE.search(line.strip()))


class BoilerplateFilter(BaseFilter):
    name = "boilerplate"

    def __init__(self, max_line_ratio: float, max_words_per_line: int, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_line_ratio, self.max_words_per_line = max_line_ratio, max_words_per_line

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lines = [line for line in doc.text.splitlines() if line.strip()]
        if not lines:
            return False, "empty"
        ratio = sum(is_boilerplate_line(line, self.max_words_per_line) for line in lines) / len(lines)
        if ratio > self.max_line_ratio:
            return False, "boilerplate_line_ratio"
        return True


_EXTRA_SYMBOLS = frozenset("#|*~•…_^")


def symbol_char_ratio(text: str) -> float:
    """Share of non-space characters that are symbols (Unicode S* categories or a few ASCII markers)."""
    chars = [ch for ch in text if not ch.isspace()]
    if not chars:
        return 0.0
    n = sum(1 for ch in chars if ch in _EXTRA_SYMBOLS or unicodedata.category(ch).startswith("S"))
    return n / len(chars)


class SymbolFilter(BaseFilter):
    name = "symbols"

    def __init__(self, max_symbol_char_ratio: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_symbol_char_ratio = max_symbol_char_ratio

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if symbol_char_ratio(doc.text) > self.max_symbol_char_ratio:
            return False, "symbol_char_ratio"
        return True
