"""Byte-level BPE: determinism, round-trip, specials, chat template and assistant mask, report."""

import hashlib
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from llm_lifecycle.datasets import HFPretrainedDataset
from llm_lifecycle.tokenization.report import language_stats, report_metrics, word_splits
from llm_lifecycle.tokenization.train import TokenizerSettings, train_bpe

CONVERSATION = [
    {"role": "system", "content": "Ты — полезный ассистент."},
    {"role": "user", "content": "Где живёт учитель?"},
    {"role": "bot", "content": "Учитель живёт в Москве."},
    {"role": "user", "content": "And the pilot?"},
    {"role": "assistant", "content": "The pilot lives in Moscow."},
]


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_data_same_params_gives_byte_identical_files(bilingual_docs, tmp_path):
    cfg = TokenizerSettings(vocab_size=400, min_frequency=2)
    digests = []
    for run in ("a", "b"):
        tok = train_bpe((d["text"] for d in bilingual_docs), cfg)
        tok.save_pretrained(tmp_path / run)
        digests.append(_digest(tmp_path / run))
    assert digests[0] == digests[1]
    assert {"tokenizer.json", "tokenizer_config.json"} <= set(digests[0])
    # ...and the files depend on the data: a different corpus gives a different vocabulary.
    other = train_bpe([d["text"] for d in bilingual_docs if d["lang"] == "en"], cfg)
    other.save_pretrained(tmp_path / "c")
    assert _digest(tmp_path / "c")["tokenizer.json"] != digests[0]["tokenizer.json"]


def test_round_trip_any_text_through_saved_tokenizer(tiny_tokenizer, tmp_path):
    ds = HFPretrainedDataset(str(tmp_path / "tok"), kind="tokenizer")
    ds.save(tiny_tokenizer)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    for text in ["Москва — столица.", "Moscow!", "ёжик 🦔 日本語 \t\n  spaces", ""]:
        ids = loaded(text, add_special_tokens=False)["input_ids"]
        assert ids == tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert loaded.decode(ids) == text  # byte-level: lossless even for unseen scripts
    assert loaded.unk_token_id not in loaded("日本語 🦔", add_special_tokens=False)["input_ids"]


def test_special_tokens_have_fixed_ids_and_no_bos_is_added_implicitly(tiny_tokenizer):
    t = tiny_tokenizer
    assert (t.pad_token_id, t.bos_token_id, t.eos_token_id, t.unk_token_id) == (0, 1, 2, 3)
    ids = t("Москва")["input_ids"]
    assert t.bos_token_id not in ids and t.eos_token_id not in ids
    assert len(t) <= 512


def test_learned_merges_compress_frequent_words(tiny_tokenizer):
    # The corpus repeats "Москва" and "Moscow": each should be far fewer tokens than its bytes.
    for word in (" Москва", " Moscow", " teacher"):
        assert len(tiny_tokenizer(word)["input_ids"]) <= 2, word
    assert len(tiny_tokenizer(" Москва")["input_ids"]) < len(" Москва".encode()) / 4


def test_chat_template_renders_saiga_roles_and_masks_only_bot_text(tiny_tokenizer):
    text = tiny_tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert text == (
        "<s>system\nТы — полезный ассистент.</s>\n"
        "<s>user\nГде живёт учитель?</s>\n"
        "<s>bot\nУчитель живёт в Москве.</s>\n"
        "<s>user\nAnd the pilot?</s>\n"
        "<s>bot\nThe pilot lives in Moscow.</s>\n"
    )
    out = tiny_tokenizer.apply_chat_template(
        CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    masked = tiny_tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    # The loss covers the answers and their closing </s> (so the model learns to stop), nothing else.
    assert masked == "Учитель живёт в Москве.</s>The pilot lives in Moscow.</s>"
    prompt = tiny_tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<s>user\nГде живёт учитель?</s>\n<s>bot\n")


def test_chat_template_rejects_unknown_role(tiny_tokenizer):
    with pytest.raises(Exception, match="unknown chat role: tool"):
        tiny_tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_report_per_language_and_word_splits(tiny_tokenizer, bilingual_docs):
    stats = language_stats(tiny_tokenizer, bilingual_docs)
    assert list(stats["lang"]) == ["en", "ru"]
    by_lang = stats.set_index("lang")
    # Hand check: bytes/token = total UTF-8 bytes / total tokens.
    ru_docs = [d for d in bilingual_docs if d["lang"] == "ru"]
    ru_bytes = sum(len(d["text"].encode()) for d in ru_docs)
    ru_tokens = sum(len(tiny_tokenizer(d["text"])["input_ids"]) for d in ru_docs)
    assert by_lang.loc["ru", "bytes_per_token"] == pytest.approx(ru_bytes / ru_tokens)
    assert by_lang.loc["ru", "bytes_per_token"] > 2.0  # merges beat raw bytes on seen text
    assert 1.0 <= by_lang.loc["en", "tokens_per_word"] < 3.0
    assert 0.0 < stats.attrs["vocab_used_share"] <= 1.0

    splits = word_splits(tiny_tokenizer, ["Moscow", "Москва"])
    assert set(splits["position"]) == {"start", "after_space"}
    row = splits[(splits.word == "Москва") & (splits.position == "after_space")].iloc[0]
    assert row["pieces"].replace(" | ", "") == " Москва"
    metrics = report_metrics(stats, splits, vocab_size=len(tiny_tokenizer))
    assert metrics["ru.bytes_per_token"] == pytest.approx(ru_bytes / ru_tokens)
    assert metrics["split.Москва"] == row["n_tokens"]


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def test_copy_friendly_gives_a_name_or_number_one_id_wherever_it_stands(bilingual_docs, tiny_tokenizer):
    # The answer's first word follows the chat template's "bot\n"; the question has the word after a space.
    space = _ids(tiny_tokenizer, " ")
    for word in ("Москва", "Moscow", "Page", "12"):
        at_line_start = _ids(tiny_tokenizer, "bot\n" + word)[-len(_ids(tiny_tokenizer, word)) :]
        after_space = _ids(tiny_tokenizer, "в " + word)
        assert after_space[-len(at_line_start) - 1 :] == space + at_line_start, word
    assert len(_ids(tiny_tokenizer, "Москва")) == 1  # frequent: learned as one piece
    # Lower-case words keep their space (that is where most of BPE's compression is).
    first = tiny_tokenizer.decode(_ids(tiny_tokenizer, " учитель")[:1])
    assert first.startswith(" ") and len(first) > 1
    # GPT-2's pre-tokenizer glues the space on: the same name is two different ids.
    gpt2 = train_bpe(
        (d["text"] for d in bilingual_docs), TokenizerSettings(vocab_size=512, pre_tokenizer="gpt2")
    )
    assert _ids(gpt2, " Москва")[-len(_ids(gpt2, "Москва")) :] != _ids(gpt2, "Москва")
    assert gpt2.decode(_ids(gpt2, " Москва")[:1]).startswith(" М")


@pytest.mark.parametrize("pre_tokenizer", ["copy_friendly", "gpt2"])
def test_both_pre_tokenizers_round_trip_every_script(bilingual_docs, pre_tokenizer):
    tok = train_bpe(
        (d["text"] for d in bilingual_docs), TokenizerSettings(vocab_size=400, pre_tokenizer=pre_tokenizer)
    )
    for text in ["Кто младше: Рибел или Ганган?\nРибел.", "ǅ Ǆ 日本語 «Ло» x2 's 12,5 \t\n\n  end ", "''"]:
        assert tok.decode(_ids(tok, text)) == text


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="special tokens must be distinct"):
        TokenizerSettings(bos_token="<s>", eos_token="<s>")
    with pytest.raises(ValueError, match="vocab_size"):
        TokenizerSettings(vocab_size=10)
    with pytest.raises(ValueError, match="extra"):
        TokenizerSettings.model_validate({"vocab_sise": 100})
    with pytest.raises(ValueError, match="pre_tokenizer"):
        TokenizerSettings(pre_tokenizer="sentencepiece")
    with pytest.raises(ValueError, match="empty corpus"):
        train_bpe([], TokenizerSettings())
