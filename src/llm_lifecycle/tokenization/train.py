"""Byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant, Radford et al. 2019).

Trained with the HF `tokenizers` library and wrapped as a `transformers` fast tokenizer carrying
bos/eos/pad/unk and the Saiga chat template, so `AutoTokenizer.from_pretrained(dir)` gives everything a
later stage needs. Byte-level means no unknown tokens: any UTF-8 text (Cyrillic included) encodes, the
first 256 ids being the byte alphabet. Deterministic: the trainer sorts merges by (count, pair), the
corpus order is the caller's, and the saved files contain no timestamps, so the same data and
parameters give byte-identical files.

Pre-tokenization decides what a merge may cross. GPT-2's regex glues the preceding space onto every
word, so a name after a space ("Кто младше: Рибел или ...") and the same name at the start of a line
("<s>bot\nРибел младше.": the first word of every answer) are *different* token ids. A large model
learns that " Рибел" and "Рибел" are one word; the embedded default's 1.3M-parameter model could not,
for names it never saw in an answer: it copied the question's name into the first word of the answer
0 times in 18 on MT-Bench, and answered with a name memorised from SFT instead. `copy_friendly` (the
default) splits the space off capitalised words and numbers, the things answers copy, so they are one id
wherever they stand; lower-case words keep their space, which keeps most of the compression (+17.5%
tokens on the toy corpus). Same model, same data: fact cloze 0.85 -> 0.99, MT-Bench SFT 1.79 -> 2.36,
DPO 2.01 -> 3.04 (see the README). `gpt2` is the GPT-2 behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm_lifecycle.tokenization.chat_template import SAIGA_CHAT_TEMPLATE

logger = logging.getLogger(__name__)

# GPT-2's pre-tokenizer regex, except that capitalised words (`\p{Lu}\p{L}*`) and digit runs never take
# the space before them: " Рибел" -> " ", "Рибел"; " 40" -> " ", "40"; " лет" stays one piece.
COPY_FRIENDLY_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d|\p{Lu}\p{L}*| ?(?!\p{Lu})\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
)


class TokenizerSettings(BaseModel):
    """Parameters of `conf/base/parameters_tokenizer.yml` (key `tokenizer`)."""

    model_config = ConfigDict(extra="forbid")

    vocab_size: int = Field(4096, ge=300, description="including the 256 byte tokens and specials")
    min_frequency: int = Field(2, ge=1)
    bos_token: str = "<s>"
    eos_token: str = "</s>"
    pad_token: str = "<pad>"
    unk_token: str = "<unk>"
    extra_special_tokens: list[str] = Field(default_factory=list)
    model_max_length: int = Field(512, ge=8)
    pre_tokenizer: Literal["copy_friendly", "gpt2"] = "copy_friendly"  # see the module docstring
    heldout_fraction: float = Field(0.05, ge=0.0, lt=0.5, description="documents kept out of training")
    split_salt: str = "tokenizer"
    example_words: list[str] = Field(default_factory=lambda: ["Moscow", "Москва"])

    @model_validator(mode="after")
    def _distinct_specials(self) -> TokenizerSettings:
        specials = self.special_tokens
        if len(set(specials)) != len(specials):
            raise ValueError(f"special tokens must be distinct, got {specials}")
        return self

    @property
    def special_tokens(self) -> list[str]:
        # Fixed order => fixed ids: <pad>=0, <s>=1, </s>=2, <unk>=3, then extras.
        return [self.pad_token, self.bos_token, self.eos_token, self.unk_token, *self.extra_special_tokens]


def _batches(texts: Iterable[str], size: int = 256) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_bpe(texts: Iterable[str], cfg: TokenizerSettings):
    """Train byte-level BPE on `texts` and return a `PreTrainedTokenizerFast` (not yet saved)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    if cfg.pre_tokenizer == "gpt2":
        # add_prefix_space=False: "Москва" at the start of a line and after a space differ, as in GPT-2.
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        # Split first (isolated: every piece of text is kept), then map bytes without GPT-2's own regex.
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(COPY_FRIENDLY_PATTERN), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=cfg.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: nothing is ever unknown
        show_progress=False,
    )
    n_texts = 0

    def counted() -> Iterator[list[str]]:
        nonlocal n_texts
        for batch in _batches(texts):
            n_texts += len(batch)
            yield batch

    tok.train_from_iterator(counted(), trainer=trainer)
    if n_texts == 0:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    logger.info("trained byte-level BPE: %d texts, vocab %d", n_texts, tok.get_vocab_size())
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=cfg.bos_token,
        eos_token=cfg.eos_token,
        pad_token=cfg.pad_token,
        unk_token=cfg.unk_token,
        additional_special_tokens=list(cfg.extra_special_tokens) or None,
        model_max_length=cfg.model_max_length,
        chat_template=SAIGA_CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
