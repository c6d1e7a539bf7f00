"""Shared fixtures: a small bilingual corpus and a tokenizer trained on it inside the test session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

_EN = [
    "Moscow is a large city. The teacher lives in Moscow and has a cat.",
    "The pilot flies from the city to the river every morning, and the dog waits at home.",
    "Seven plus five is twelve. The word city has four letters.",
]
_RU = [
    "Москва — большой город. Учитель живёт в Москве, и у него есть кошка.",
    "Пилот каждое утро летит из города к реке, а собака ждёт дома.",
    "Семь плюс пять будет двенадцать. В слове город пять букв.",
]


@pytest.fixture(scope="session")
def bilingual_docs() -> list[dict]:
    docs = []
    for i in range(60):
        en, ru = _EN[i % 3], _RU[i % 3]
        docs.append({"id": f"en-{i}", "lang": "en", "text": f"{en} Page {i}."})
        docs.append({"id": f"ru-{i}", "lang": "ru", "text": f"{ru} Страница {i}."})
    return docs


@pytest.fixture(scope="session")
def tiny_tokenizer(bilingual_docs):
    from llm_lifecycle.tokenization.train import TokenizerConfig, train_bpe

    cfg = TokenizerConfig(vocab_size=512, min_frequency=2, model_max_length=128)
    return train_bpe((d["text"] for d in bilingual_docs), cfg)
