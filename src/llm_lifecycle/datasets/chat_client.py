"""A catalog entry that yields a chat backend: where the teacher (or judge) lives and its credentials.

Kedro gives credentials (`conf/local/credentials.yml`) to datasets, never to nodes or parameters, so the
OpenAI-compatible client is built here, at load time, with the key passed straight into the client (never
stored on this dataset, never in `_describe`, so it cannot reach logs or MLflow). The embedded default
uses an offline backend instead, named by a string the node understands:

    teacher_backend:                        # conf/base: the toy world's reference answers
      type: llm_lifecycle.datasets.ChatClientDataset
      backend: reference

    teacher_backend:                        # conf/llama3_8b: GPT-4 (or vLLM, llama.cpp: any base_url)
      type: llm_lifecycle.datasets.ChatClientDataset
      backend: openai
      client: {base_url: https://api.openai.com/v1, model: gpt-4-0613, cache_dir: data/llm_cache}
      credentials: openai                   # credentials.yml: openai: {api_key: ...}; or OPENAI_API_KEY

    judge_backend:                          # a local transformers chat model as judge (no server)
      type: llm_lifecycle.datasets.ChatClientDataset
      backend: transformers
      client: {model: path/or/hub-id, max_new_tokens: 512, batch_size: 8, dtype: bfloat16}

Loading is cheap and makes no request; the client connects when the node first asks a question (the
`transformers` backend loads its model at load time: `trust_remote_code` stays off).
"""

from __future__ import annotations

from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

OFFLINE_BACKENDS = ("reference", "verifier")


class ChatClientDataset(AbstractDataset[None, Any]):
    """Load-only: an `OpenAICompatClient` (backend `openai`) or the name of an offline backend."""

    def __init__(
        self,
        backend: str,
        client: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        if backend not in ("openai", "transformers") and backend not in OFFLINE_BACKENDS:
            raise DatasetError(
                f"ChatClientDataset: unknown backend {backend!r}; "
                f"use 'openai', 'transformers' or one of {OFFLINE_BACKENDS}"
            )
        if backend == "openai" and not client:
            raise DatasetError("ChatClientDataset: backend 'openai' needs `client: {base_url, model, ...}`")
        if backend == "transformers" and not (client or {}).get("model"):
            raise DatasetError(
                "ChatClientDataset: backend 'transformers' needs `client: {model: <path or hub id>}`"
            )
        self._backend = backend
        self._client = dict(client or {})
        self._credentials = credentials  # handed to the client at load; never described or logged
        self.metadata = metadata

    def load(self) -> Any:
        if self._backend == "transformers":
            return _load_transformers_backend(dict(self._client))
        if self._backend != "openai":
            return self._backend
        from llm_lifecycle.llm_clients import OpenAICompatClient

        return OpenAICompatClient(self._client, credentials=self._credentials)

    def save(self, data: None) -> None:
        raise DatasetError("ChatClientDataset is read-only")

    def _exists(self) -> bool:
        return True  # a client built from configuration: always loadable (the server is checked on use)

    def _describe(self) -> dict[str, Any]:
        return {"backend": self._backend, "client": self._client}  # no credentials


def _load_transformers_backend(client: dict[str, Any]) -> Any:
    """An `HFChatBackend` over a local (or cached hub) chat model; greedy by default, as a judge should be.
    The backend moves it to the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llm_lifecycle.llm_clients import GenerationSettings, HFChatBackend

    path = client.pop("model")
    dtype = client.pop("dtype", None)
    name = client.pop("name", f"transformers:{path}")
    model = AutoModelForCausalLM.from_pretrained(
        path, trust_remote_code=False, **({"dtype": getattr(torch, dtype)} if dtype else {})
    )
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    settings = GenerationSettings.model_validate({"temperature": 0.0, **client})
    return HFChatBackend(model, tokenizer, settings, name=name)
