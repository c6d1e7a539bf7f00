"""A local `transformers` causal LM as a `ChatBackend`: the SFT model answering preference prompts, or a
local judge.

Conversations are rendered with the tokenizer's chat template (`add_generation_prompt=True`), batched with
LEFT padding (a decoder continues from the last position, so pads must come first) and generated with
`model.generate`. Sampling is seeded per batch (`seed + batch index`), so the same model, prompts and
settings give the same answers on CPU whatever ran before. Only the new tokens are decoded; generation
stops at the tokenizer's EOS (`</s>` closes a Saiga turn); a reply that reached `max_new_tokens`
without it is reported as cut off (`ChatReply.finish_reason == "length"`). The backend moves a model
that sits on the CPU to the GPU when there is one (`devices.place_for_inference`): the catalog loads
models on the CPU, where an 8B model would generate for days.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.chat_format import ChatReply, Conversation

logger = logging.getLogger(__name__)


class GenerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.8, ge=0, description="0: greedy")
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(16, ge=1)
    seed: int = 0


class HFChatBackend:
    """`complete_many(conversations)` with a local model; `temperature`, `max_tokens` overridable per call."""

    def __init__(
        self, model: Any, tokenizer: Any, settings: GenerationSettings | None = None, name: str = "local"
    ):
        from llm_lifecycle.devices import place_for_inference

        self.model, self.tokenizer = place_for_inference(model), tokenizer
        self.settings = settings or GenerationSettings()
        self.name = name

    def complete_many(
        self,
        conversations: Sequence[Conversation],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """The reply texts (see `replies`)."""
        replies = self.replies(conversations, temperature=temperature, max_tokens=max_tokens, seed=seed)
        return [r.text for r in replies]

    def replies(
        self,
        conversations: Sequence[Conversation],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> list[ChatReply]:
        """One reply per conversation, in order, each saying whether it stopped at EOS or was cut off."""
        import torch
        from tqdm.auto import tqdm

        from llm_lifecycle.devices import model_device

        s = self.settings
        temperature = s.temperature if temperature is None else temperature
        max_new = s.max_new_tokens if max_tokens is None else max_tokens
        tok, model = self.tokenizer, self.model
        device = model_device(model)
        was_training = model.training
        model.eval()
        texts = [
            tok.apply_chat_template(list(c), add_generation_prompt=True, tokenize=False)
            for c in conversations
        ]
        answers: list[ChatReply] = []
        batches = range(0, len(texts), s.batch_size)
        try:
            for b, start in enumerate(tqdm(batches, desc=f"generate ({self.name})", leave=False)):
                batch = tok(
                    texts[start : start + s.batch_size],
                    return_tensors="pt",
                    padding=True,
                    padding_side="left",
                    add_special_tokens=False,  # the chat template already wrote BOS
                ).to(device)
                torch.manual_seed((s.seed if seed is None else seed) + b)
                sampling = (
                    {"do_sample": True, "temperature": temperature, "top_p": s.top_p}
                    if temperature > 0
                    else {"do_sample": False}
                )
                with torch.inference_mode():
                    out = model.generate(
                        **batch,
                        max_new_tokens=max_new,
                        pad_token_id=tok.pad_token_id,
                        eos_token_id=tok.eos_token_id,
                        **sampling,
                    )  # [b, prompt_len + new]
                new_tokens = out[:, batch["input_ids"].shape[1] :]
                stopped = (new_tokens == tok.eos_token_id).any(dim=1).tolist()
                decoded = tok.batch_decode(new_tokens, skip_special_tokens=True)
                answers += [
                    ChatReply(text.strip(), finish_reason="stop" if eos else "length")
                    for text, eos in zip(decoded, stopped, strict=True)
                ]
        finally:
            model.train(was_training)
        return answers
