"""Packing, document split and the unigram baseline, checked against hand-built expectations."""

from __future__ import annotations

import math

import pytest
import torch

from llm_lifecycle.training.pretraining.packing import (
    encode_documents,
    pack_corpus,
    pack_documents,
    pack_token_ids,
    unigram_cross_entropy,
)


def _ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def test_pack_documents_places_bos_eos_and_drops_tail(tiny_tokenizer):
    tok = tiny_tokenizer
    assert (tok.bos_token_id, tok.eos_token_id) == (1, 2)
    texts = ["Moscow is a large city.", "Москва — большой город.", "The dog waits."]
    stream = []
    for t in texts:
        stream += [1, *_ids(tok, t), 2]
    block = 8
    blocks = pack_documents(tok, texts, block)
    n = len(stream) // block
    assert blocks.dtype == torch.long
    assert blocks.shape == (n, block)
    assert blocks.flatten().tolist() == stream[: n * block]  # exact concatenation, tail dropped
    assert blocks[0, 0].item() == 1  # the first document starts with <s>
    # Every </s> is followed by the next document's <s> (unless it ends the kept stream).
    flat = blocks.flatten().tolist()
    for i, t in enumerate(flat[:-1]):
        if t == 2:
            assert flat[i + 1] == 1


def test_pack_token_ids_counts_the_dropped_tail():
    docs = [torch.arange(5).numpy(), torch.arange(4).numpy()]  # 9 tokens
    blocks, dropped = pack_token_ids(docs, 4)
    assert blocks.tolist() == [[0, 1, 2, 3], [4, 0, 1, 2]]
    assert dropped == 1


def test_pack_documents_refuses_less_than_one_block(tiny_tokenizer):
    with pytest.raises(ValueError, match="fewer than one block"):
        pack_documents(tiny_tokenizer, ["hi"], 512)


def test_encode_documents_wraps_each_document(tiny_tokenizer):
    (doc,) = encode_documents(tiny_tokenizer, ["The city."])
    assert doc.tolist() == [1, *_ids(tiny_tokenizer, "The city."), 2]


def test_pack_corpus_splits_documents_before_packing(tiny_tokenizer, bilingual_docs):
    corpus = pack_corpus(tiny_tokenizer, bilingual_docs, block_size=16, val_fraction=0.2, salt="pretrain")
    s = corpus.stats
    assert s["train_documents"] + s["val_documents"] == len(bilingual_docs)
    assert s["val_documents"] > 0
    assert corpus.train_blocks.shape[1] == corpus.val_blocks.shape[1] == 16
    assert s["train_tokens"] == corpus.train_blocks.numel()
    # Same split again (hash, order-independent) and disjoint by document id.
    again = pack_corpus(
        tiny_tokenizer, list(reversed(bilingual_docs)), block_size=16, val_fraction=0.2, salt="pretrain"
    )
    assert again.stats["val_documents"] == s["val_documents"]
    from llm_lifecycle.training.pretraining.packing import split_documents

    train, val = split_documents(bilingual_docs, 0.2, salt="pretrain")
    assert {d["id"] for d in train}.isdisjoint({d["id"] for d in val})
    # The unigram baseline sits between "learned something" and the uniform distribution.
    assert (
        0
        < s["unigram_val_cross_entropy"]
        < s["uniform_cross_entropy"]
        == pytest.approx(math.log(len(tiny_tokenizer)))
    )


def test_unigram_cross_entropy_by_hand():
    train = torch.tensor([0, 0, 1])
    val = torch.tensor([0, 2])
    # alpha=1 over a vocabulary of 3: p = (2+1, 1+1, 0+1) / (3 + 3) = (1/2, 1/3, 1/6)
    expected = -(math.log(1 / 2) + math.log(1 / 6)) / 2
    assert unigram_cross_entropy(train, val, vocab_size=3, alpha=1.0) == pytest.approx(expected)
    # alpha=0 is the plain maximum-likelihood estimate: p(0) = 2/3
    assert unigram_cross_entropy(train, torch.tensor([0, 0]), 3, alpha=0.0) == pytest.approx(-math.log(2 / 3))
    with pytest.raises(ValueError, match="never occurs"):
        unigram_cross_entropy(train, val, 3, alpha=0.0)
