"""The local HF chat backend (batched, left-padded, seeded) and the catalog dataset that builds clients."""

from __future__ import annotations

import pytest

from llm_lifecycle.datasets import ChatClientDataset
from llm_lifecycle.llm_clients import GenerationSettings, HFChatBackend, OpenAICompatClient
from tests.conftest import make_tiny_llama

CONVS = [
    [{"role": "user", "content": "Где живёт учитель?"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is Moscow? Tell me more."},
    ],
    [
        {"role": "user", "content": "Hi"},
        {"role": "bot", "content": "Hello."},
        {"role": "user", "content": "2+2?"},
    ],
]


@pytest.fixture(scope="module")
def model(tiny_tokenizer):
    return make_tiny_llama(tiny_tokenizer, seed=0, head_scale=1.0)


def test_batched_greedy_answers_equal_one_by_one_answers(model, tiny_tokenizer):
    # Left padding must not change what a decoder generates: batch of 3 == three batches of 1.
    greedy = GenerationSettings(temperature=0.0, max_new_tokens=6, batch_size=3)
    batched = HFChatBackend(model, tiny_tokenizer, greedy).complete_many(CONVS)
    single = HFChatBackend(model, tiny_tokenizer, greedy.model_copy(update={"batch_size": 1})).complete_many(
        CONVS
    )
    assert batched == single and len(batched) == 3


def test_sampling_is_seeded(model, tiny_tokenizer):
    s = GenerationSettings(temperature=1.0, max_new_tokens=8, seed=5)
    first = HFChatBackend(model, tiny_tokenizer, s).complete_many(CONVS)
    assert HFChatBackend(model, tiny_tokenizer, s).complete_many(CONVS) == first


def test_dataset_builds_clients_and_never_describes_the_key():
    offline = ChatClientDataset(backend="reference")
    assert offline.load() == "reference"
    assert offline.exists()  # configuration, not data: never a "missing input" of a run
    secret = "sk-test-DO-NOT-LOG-123"
    ds = ChatClientDataset(
        backend="openai",
        client={"base_url": "http://127.0.0.1:9/v1", "model": "gpt-4"},
        credentials={"api_key": secret},
    )
    assert secret not in str(ds) and secret not in repr(ds._describe())
    client = ds.load()
    assert isinstance(client, OpenAICompatClient) and secret not in repr(client)


def test_dataset_rejects_unknown_backends_and_missing_client():
    from kedro.io.core import DatasetError

    with pytest.raises(DatasetError, match="unknown backend 'gpt'"):
        ChatClientDataset(backend="gpt")
    with pytest.raises(DatasetError, match="needs `client"):
        ChatClientDataset(backend="openai")
