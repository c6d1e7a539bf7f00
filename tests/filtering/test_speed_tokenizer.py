"""The faster tokenizer path (issue #19) gives datatrove's answers: tokens, sentences, spans, decisions.

`ZonelessSpaCyTokenizer` keeps spaCy's vocabulary and tokenizer cache between calls instead of opening a
memory zone per call; `SharedTokenizer(reuse_vocab=False)` is datatrove's stock tokenizer, the reference.
"""

from __future__ import annotations

import pickle

import pytest
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import get_filter_result
from datatrove.utils.word_tokenizers import SpaCyTokenizer, load_word_tokenizer

from llm_lifecycle.filtering.chain import build_blocks, build_dedup_blocks
from llm_lifecycle.filtering.config import FilteringSettings
from llm_lifecycle.filtering.rules import SharedTokenizer, ZonelessSpaCyTokenizer
from llm_lifecycle.filtering.streaming import datatrove_dedup_stages
from llm_lifecycle.toy_world.documents import DocumentsSettings, generate_documents
from llm_lifecycle.toy_world.world import make_world

TEXTS = {
    "en": [
        "Kalomira lives in Ventorsa. She bakes bread!  Does she?\n\nYes: 7 + 5 = 12, see https://example.com/a?b=1.",
        'Home | News | Contact\n\n\n© 2024 Example Inc. All rights reserved... "Quoted," she said (twice).',
        "U.S.A. e-mail: kalo@example.org — don't stop; it's 3.5km or 12,000 ft. #tag ★★★ IS_ALPHA",
        "IS_ALPHA",
        "(IS_ALPHA). A sentence, then IS_ALPHA again. xIS_ALPHA",  # datatrove's retry without the string
        "",
        "   \n\t ",
        "word",
    ],
    "ru": [
        "Каломира живёт в городе Венторса. Она печёт хлеб!  Правда?\n\nДа: 7 + 5 = 12, см. https://пример.рф.",
        "Главная » Люди » Венторса\nВойти | Регистрация\n«Я живу в городе Рисадор. Мне 46 лет.»",
        "Т.е. т.д. и т.п. — 1 000 руб., 3,5 км… ну-ка, кто-нибудь! IS_ALPHA",
    ],
}
KINDS = ("word_tokenize", "sent_tokenize", "span_tokenize")


@pytest.mark.parametrize("lang", sorted(TEXTS))
def test_same_tokens_sentences_and_spans_as_datatrove(lang):
    fast, stock = SharedTokenizer(lang), SharedTokenizer(lang, reuse_vocab=False)
    assert isinstance(fast.backend, ZonelessSpaCyTokenizer)
    assert stock.backend is load_word_tokenizer(lang)
    for _ in range(2):  # the second pass is answered from spaCy's kept vocabulary and cache
        for text in TEXTS[lang]:
            for kind in KINDS:
                # datatrove's answer for "IS_ALPHA" depends on its tokenizer's past (next test): the
                # reference there is a fresh datatrove tokenizer, whose first call spaCy answers whole
                reference = SpaCyTokenizer(lang) if "IS_ALPHA" in text else stock
                assert getattr(fast, kind)(text) == getattr(reference, kind)(text), (kind, text)


def test_is_alpha_answer_does_not_depend_on_what_came_before():
    text = TEXTS["en"][2]
    whole = ["U.S.A. e-mail: kalo@example.org — don't stop; it's 3.5km or 12,000 ft. #", "tag ★★★ IS_ALPHA"]
    stock = SpaCyTokenizer("en")
    answers = [stock.sent_tokenize(text) for _ in range(3)]
    # spaCy 3.8 fails inside a memory zone once an earlier zone split the string: datatrove drops it
    assert answers == [whole, [whole[0], "tag ★★★"], [whole[0], "tag ★★★"]]
    fast = ZonelessSpaCyTokenizer("en")
    assert [fast.sent_tokenize(text) for _ in range(3)] == [whole] * 3


def test_is_alpha_falls_back_to_datatroves_retry_when_spacy_fails(monkeypatch):
    fast = ZonelessSpaCyTokenizer("en")
    real = fast._run

    def fails_on_the_string(text, sentences):
        if "IS_ALPHA" in text:
            raise AssertionError  # what spaCy raises inside a memory zone
        return real(text, sentences)

    monkeypatch.setattr(fast, "_run", fails_on_the_string)
    assert fast.word_tokenize("tag IS_ALPHA word") == ["tag", "word"]

    def always_fails(text, sentences):
        raise AssertionError

    monkeypatch.setattr(fast, "_run", always_fails)
    with pytest.raises(AssertionError):  # a failure on any other text is not hidden
        fast.word_tokenize("no such string")


def test_vocabulary_persists_between_calls_and_is_capped():
    tok = SharedTokenizer("en")
    tok.word_tokenize("warm")
    nlp = tok.backend.tokenizer
    before = len(nlp.vocab)
    words = tok.word_tokenize("Zorblat quexes vindrapple")  # words no vocabulary holds
    assert len(nlp.vocab) > before  # no memory zone: the new words stay (that is the speed-up)

    capped = SharedTokenizer("en", max_vocab=before + 1)
    capped.word_tokenize("warm")
    first = capped.backend.tokenizer
    assert capped.word_tokenize("Zorblat quexes vindrapple") == words
    assert capped.backend._tokenizer is None  # over the cap: the pipeline is dropped ...
    assert capped.word_tokenize("Zorblat quexes vindrapple") == words
    assert capped.backend.tokenizer is not first  # ... and rebuilt, with the same answers


def test_memo_hands_out_copies_and_pickles_without_state():
    tok = SharedTokenizer("ru", max_vocab=5000)
    words = tok.word_tokenize(TEXTS["ru"][0])
    words.append("mutated")
    assert tok.word_tokenize(TEXTS["ru"][0])[-1] != "mutated"
    clone = pickle.loads(pickle.dumps(tok))
    assert (clone.language, clone.reuse_vocab, clone.max_vocab) == ("ru", True, 5000)
    assert clone._backend is None and clone._last == {}
    assert clone.word_tokenize(TEXTS["ru"][0]) == tok.word_tokenize(TEXTS["ru"][0])


def _decisions(records: list[dict], reuse_vocab: bool) -> list[tuple]:
    cfg = FilteringSettings(progress=False)
    blocks = build_blocks(cfg) + build_dedup_blocks(cfg)
    for block in blocks:
        for inner in getattr(block, "filters", {}).values():
            inner.language.reuse_vocab = reuse_vocab
    out = []
    for r in records:
        doc = Document(text=r["text"], id=r["id"])
        for block in blocks:
            keep, why = get_filter_result(block.filter(doc))
            if not keep:
                out.append((doc.id, block.name, why))
                break
        else:
            out.append((doc.id, None, doc.text))
    return out


def test_chain_takes_the_same_decisions_with_either_tokenizer():
    records, _ = generate_documents(make_world(7), DocumentsSettings(n_clean=40), 7)
    fast = _decisions(records, reuse_vocab=True)
    assert fast == _decisions(records, reuse_vocab=False)
    assert {rule for _, rule, _ in fast} >= {None, "language_id", "gopher_quality", "near_dedup"}


def test_the_vocabulary_cap_comes_from_the_parameters(tmp_path):
    cfg = FilteringSettings.model_validate({"word_tokenizer_max_vocab": 5000})
    tokenizers = [
        rule.language  # datatrove's filters hold the tokenizer they were given for `language`
        for block in build_blocks(cfg)
        for rule in getattr(block, "filters", {}).values()  # ByLanguage: one filter per language
    ]
    assert len(tokenizers) == 4 * len(cfg.languages())  # Gopher quality and repetition, C4, FineWeb
    assert all(isinstance(t, SharedTokenizer) and t.max_vocab == 5000 for t in tokenizers)
    signatures = datatrove_dedup_stages(cfg, tmp_path, tmp_path / "survivors", None)[0].steps[1]
    assert signatures.word_tokenizer.max_vocab == 5000  # datatrove's MinHash signatures split words alike
    assert FilteringSettings().word_tokenizer_max_vocab == 20_000
    with pytest.raises(ValueError, match="word_tokenizer_max_vocab"):
        FilteringSettings.model_validate({"word_tokenizer_max_vocab": 10})
