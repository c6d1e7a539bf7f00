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
- `SharedTokenizer`: the language's datatrove word tokenizer, shared by the four datatrove rules of
  that language (datatrove's filters accept a tokenizer in place of a language name), with a memo of
  the last page it split and, for spaCy languages, a `ZonelessSpaCyTokenizer`: datatrove opens a spaCy
  memory zone per call, which throws away spaCy's vocabulary and tokenizer cache after every call and
  was ~75% of the filtering time on the toy corpus; the zoneless one keeps them (bounded by
  `max_vocab`) and returns the same tokens and sentences.

Speed (issue #19, `benchmarks/bench_filtering.py`): the symbol share and dedup's normalisation use
`str.translate` with per-character tables filled from `unicodedata` on first sight (same categories,
C speed), and exact and near dedup share one normalisation per page. Language id is lingua's as
configured: for texts of 120+ characters lingua already scores trigrams only, so its low-accuracy
mode gains nothing there and changes the verdicts on short texts.

Every block carries `name` = its rule name, which the chain reports in the funnel and in each rejected
document's "rule". Blocks must pickle (datatrove's local executor ships them to worker processes), so
the lingua detector is built lazily in the process that uses it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import (
    SpaCyTokenizer,
    WordTokenizer,
    chunk_text_on_bytes,
    load_word_tokenizer,
    strip_strings,
)

from llm_lifecycle.filtering.config import DEFAULT_MAX_VOCAB

logger = logging.getLogger(__name__)

_BREAKS_SPACY = "IS_ALPHA"  # datatrove retries without it: see ZonelessSpaCyTokenizer


class ZonelessSpaCyTokenizer(SpaCyTokenizer):
    """datatrove's `SpaCyTokenizer` without a spaCy memory zone per call: the same tokens, ~10x faster.

    datatrove wraps every call in `nlp.memory_zone()`, which frees the words the call added to spaCy's
    vocabulary and tokenizer cache when it ends. Every call therefore builds a fresh lexeme (lexical
    attributes: `like_num`, `word_shape`, ...) for each word outside spaCy's small built-in vocabulary,
    and re-splits every prefix/suffix/infix: on the toy corpus that was ~75% of the filtering time.
    Here the vocabulary and cache persist across calls, so a word costs a hash lookup the second time.
    Memory stays bounded: when the vocabulary exceeds `max_vocab` lexemes the spaCy pipeline is dropped
    and rebuilt on the next call (`spacy.blank` takes ~40 ms). Tokens and sentences do not depend on
    what is cached (spaCy's caches are memos of pure functions of the text), so results are identical
    to datatrove's but for one string (below); `tests/filtering/test_speed_tokenizer.py` checks both.

    Text handling follows datatrove's `_do_tokenize` (byte chunks for Japanese, `max_length`); word
    splits run the tokenizer alone (`make_doc`): the sentencizer only marks sentence starts, it never
    changes a token. One known difference, in our favour: the text "IS_ALPHA" (a spaCy attribute name)
    makes spaCy 3.8 fail inside a memory zone once an earlier zone of the same pipeline has split it,
    and datatrove then retries without the string; its answer for such a text therefore depends on what
    the tokenizer split earlier. Without zones spaCy does not fail, so here the answer keeps the word,
    as datatrove's first call does, whatever came before. Should spaCy fail anyway, datatrove's retry
    without the string is the fallback.
    """

    def __init__(self, language: str, config=None, max_vocab: int = DEFAULT_MAX_VOCAB):
        super().__init__(language, config)
        self.max_vocab = max_vocab

    def _docs(self, text: str, sentences: bool) -> list:
        try:
            return self._run(text, sentences)
        except Exception:
            if _BREAKS_SPACY not in text:
                raise
            logger.warning("spaCy failed on a text containing %r: retrying without it", _BREAKS_SPACY)
            return self._run(text.replace(_BREAKS_SPACY, ""), sentences)

    def _run(self, text: str, sentences: bool) -> list:
        nlp = self.tokenizer
        run = nlp if sentences else nlp.make_doc
        texts = [text] if self.language != "ja" else chunk_text_on_bytes(text, 40000)
        nlp.max_length = len(text) + 10
        docs = [run(t) for t in texts]
        if len(nlp.vocab) > self.max_vocab:  # docs own their tokens' memory: safe to drop the pipeline
            logger.debug("spaCy %s vocabulary over %d lexemes: rebuilding", self.language, self.max_vocab)
            self._tokenizer = None
        return docs

    def word_tokenize(self, text: str) -> list[str]:
        return strip_strings([token.text for doc in self._docs(text, False) for token in doc])

    def sent_tokenize(self, text: str) -> list[str]:
        return strip_strings([sent.text for doc in self._docs(text, True) for sent in doc.sents])

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for doc in self._docs(text, True):
            start = spans[-1][1] if spans else 0  # datatrove's offsets for chunked (Japanese) text
            spans.extend((start + sent.start_char, start + sent.end_char) for sent in doc.sents)
        return spans


class SharedTokenizer(WordTokenizer):
    """datatrove's word tokenizer for `language`, shared by the per-language rules of one language.

    - Backend: when datatrove assigns spaCy's rule-based tokenizer to the language (en, ru and most
      others), a `ZonelessSpaCyTokenizer` of the same spaCy language and config, owned by this instance,
      so its vocabulary holds only the words of the pages this chain reads; with `reuse_vocab=False`,
      or for a language datatrove splits otherwise, datatrove's own tokenizer.
    - Memo: the answer for the most recent text of each kind (words, sentences, spans). Gopher quality
      and Gopher repetition split the same page into words (datatrove's 5-entry `split_into_parts`
      cache answers the second), and FineWeb splits it again after C4's per-line sentence splits have
      flushed that cache: unless C4 edited the page, the memo answers. A longer memo measured no gain:
      spaCy's own tokenizer cache already makes a repeated line cheap.

    Results are copied out, so a filter that changes its list cannot change another's. Pickles with its
    settings only: the spaCy pipeline is built in the process that uses it.
    """

    _requires_dependencies = ["spacy"]  # imported when first used (and preloaded: filtering.executors)

    def __init__(self, language: str, reuse_vocab: bool = True, max_vocab: int = DEFAULT_MAX_VOCAB):
        super().__init__(language)
        self.reuse_vocab, self.max_vocab = reuse_vocab, max_vocab
        self._backend: WordTokenizer | None = None
        self._last: dict[str, tuple[str, list]] = {}

    @property
    def backend(self) -> WordTokenizer:
        if self._backend is None:
            assigned = load_word_tokenizer(self.language)
            self._backend = assigned
            if self.reuse_vocab and type(assigned) is SpaCyTokenizer:
                from spacy.tokenizer import Tokenizer

                zoneless = ZonelessSpaCyTokenizer(assigned.language, assigned.config, self.max_vocab)
                # Only spaCy's rule-based tokenizer, whose caches are memos of the text alone; languages
                # with a custom segmenter (ja, zh, vi: sudachi, jieba, pyvi) keep datatrove's.
                if type(zoneless.tokenizer.tokenizer) is Tokenizer:
                    self._backend = zoneless
        return self._backend

    def _cached(self, kind: str, text: str) -> list:
        hit = self._last.get(kind)
        if hit is None or hit[0] != text:
            hit = (text, getattr(self.backend, kind)(text))
            self._last[kind] = hit
        return list(hit[1])

    def word_tokenize(self, text: str) -> list[str]:
        return self._cached("word_tokenize", text)

    def sent_tokenize(self, text: str) -> list[str]:
        return self._cached("sent_tokenize", text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self._cached("span_tokenize", text)

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_backend": None, "_last": {}}


class LanguageIdFilter(BaseFilter):
    name = "language_id"
    _requires_dependencies = [("lingua", "lingua-language-detector")]

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


class _DeleteSymbols(dict):
    """`str.translate` table: symbol code points (Unicode S*, `_EXTRA_SYMBOLS`) -> deleted, others kept.

    Filled on first sight of each character, so counting symbols is one C-speed `translate` instead of
    a `unicodedata.category` call per character. No symbol is whitespace, so
    `len(text) - len(text.translate(table))` counts symbols among the non-space characters.
    """

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        out = None if ch in _EXTRA_SYMBOLS or unicodedata.category(ch).startswith("S") else ch
        self[code] = out
        return out


_DELETE_SYMBOLS = _DeleteSymbols()


def symbol_char_ratio(text: str) -> float:
    """Share of non-space characters that are symbols (Unicode S* categories or a few ASCII markers)."""
    n_chars = sum(map(len, text.split()))  # str.split() and str.isspace() share one definition of space
    if not n_chars:
        return 0.0
    return (len(text) - len(text.translate(_DELETE_SYMBOLS))) / n_chars


class SymbolFilter(BaseFilter):
    name = "symbols"

    def __init__(self, max_symbol_char_ratio: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.max_symbol_char_ratio = max_symbol_char_ratio

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if symbol_char_ratio(doc.text) > self.max_symbol_char_ratio:
            return False, "symbol_char_ratio"
        return True
