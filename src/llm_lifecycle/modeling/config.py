"""`ModelSettings`: the one description of a decoder-only LLaMA/Mixtral architecture in this project.

Design
------
One small, validated pydantic model describes every architecture the project touches: the tiny model that is
pretrained on two CPU cores, its MoE variant, and the real LLaMA-2-7B / LLaMA-3-8B / Mixtral-8x7B shapes
that the architecture calculator reports on. The same object feeds two consumers:

* `llm_lifecycle.modeling.build` turns it into a `transformers` config and model (no hand-rolled
  transformer);
* `llm_lifecycle.modeling.calculator` does pure arithmetic on it (parameters, KV cache, FLOPs).

The architecture family is fixed, so only its sizes are fields:

* LLaMA decoder block (Touvron et al. 2023, "LLaMA: Open and Efficient Foundation Language Models"):
  pre-norm RMSNorm (Zhang & Sennrich 2019), rotary position embeddings (RoPE, Su et al. 2021) with base
  `rope_theta`, SwiGLU feed-forward (Shazeer 2020) with gate/up/down projections of width
  `intermediate_size`, no biases anywhere.
* Grouped-query attention (GQA, Ainslie et al. 2023): `n_kv_heads` key/value heads shared by
  `n_heads` query heads; `n_kv_heads == n_heads` is multi-head attention (MHA, LLaMA-2-7B),
  `n_kv_heads == 1` is multi-query attention.
* Optional sparse mixture of experts (Mixtral, Jiang et al. 2024): every FFN becomes `moe.n_experts`
  SwiGLU experts and a linear router whose softmax gates pick `moe.top_k` experts per token.

The defaults are the tiny model that pretrains on a 2-core CPU in about three minutes (measured on
a 2-core x86 CPU: hidden 128, 4 layers, GQA 4/2, vocab 4096, ~1.8 M parameters,
~7k tokens/s in fp32), so `ModelSettings()` *is* the project's default model.

Real architectures live as plain YAML under `conf/base/architectures/` (not Kedro parameters files, so the
config loader never merges them); `load_architecture` reads one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Bytes per stored value for the dtypes a report may ask about. Quantised formats count their packed
# payload only (scales/zero points are a few % and are ignored by the calculator).
DTYPE_BYTES: dict[str, float] = {
    "float32": 4,
    "fp32": 4,
    "bfloat16": 2,
    "bf16": 2,
    "float16": 2,
    "fp16": 2,
    "float8": 1,
    "fp8": 1,
    "int8": 1,
    "int4": 0.5,
}


class MoESettings(BaseModel):
    """Sparse MoE block (Mixtral): `n_experts` SwiGLU experts, a router picks `top_k` of them per token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_experts: int = Field(..., ge=2, description="experts per layer (Mixtral: 8)")
    top_k: int = Field(..., ge=1, description="experts evaluated per token (Mixtral: 2)")

    @model_validator(mode="after")
    def _top_k_fits(self) -> MoESettings:
        if self.top_k > self.n_experts:
            raise ValueError(f"moe.top_k ({self.top_k}) must not exceed moe.n_experts ({self.n_experts})")
        return self


class ModelSettings(BaseModel):
    """Sizes of a LLaMA-family decoder (dense) or Mixtral-family decoder (`moe` set).

    Defaults: the tiny CPU model, ~1.84 M parameters (see `tiny_config`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(4096, ge=1, description="tokenizer vocabulary (rows of the embedding)")
    hidden_size: int = Field(128, ge=1, description="model width d_model")
    n_layers: int = Field(4, ge=1, description="decoder blocks")
    n_heads: int = Field(4, ge=1, description="query heads")
    n_kv_heads: int = Field(2, ge=1, description="key/value heads (GQA); == n_heads is MHA")
    intermediate_size: int = Field(384, ge=1, description="SwiGLU hidden width (per expert for MoE)")
    max_position_embeddings: int = Field(512, ge=1, description="context length the model is built for")
    rope_theta: float = Field(10_000.0, gt=0, description="RoPE base frequency")
    rms_norm_eps: float = Field(1e-5, gt=0, description="RMSNorm epsilon")
    tie_word_embeddings: bool = Field(False, description="LM head shares the input embedding matrix")
    moe: MoESettings | None = Field(None, description="sparse MoE block; None = dense SwiGLU FFN")
    head_dim: int | None = Field(None, ge=1, description="per-head width; None = hidden_size // n_heads")
    dtype: str = Field("float32", description="dtype of weights and KV cache in reports (CPU trains in fp32)")
    bos_token_id: int | None = 1
    eos_token_id: int | list[int] | None = 2
    pad_token_id: int | None = 0

    @field_validator("dtype")
    @classmethod
    def _known_dtype(cls, value: str) -> str:
        if value not in DTYPE_BYTES:
            raise ValueError(f"dtype {value!r} is not one of {sorted(DTYPE_BYTES)}")
        return value

    @model_validator(mode="after")
    def _check_heads(self) -> ModelSettings:
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads}): "
                "in GQA each key/value head serves a whole group of query heads"
            )
        if self.hidden_size % self.n_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of n_heads ({self.n_heads})"
            )
        if self.vocab_size is None:  # to be resolved from a tokenizer (`ModelSettingsForTokenizer`)
            return self
        for name in ("bos_token_id", "pad_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} ({value}) must lie in [0, vocab_size={self.vocab_size})")
        eos = self.eos_token_id if isinstance(self.eos_token_id, list) else [self.eos_token_id]
        for value in eos:
            if value is not None and not 0 <= value < self.vocab_size:
                raise ValueError(f"eos_token_id ({value}) must lie in [0, vocab_size={self.vocab_size})")
        return self

    # --- derived sizes (used by build and calculator) -------------------------------------------------
    @property
    def resolved_head_dim(self) -> int:
        """Per-head width Q: explicit `head_dim` or hidden_size // n_heads (LLaMA: 128)."""
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.n_heads

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def model_type(self) -> str:
        """The `transformers` model type this config builds: "mixtral" with a MoE block, else "llama"."""
        return "mixtral" if self.is_moe else "llama"

    @property
    def gqa_group_size(self) -> int:
        """Query heads per key/value head (1 = MHA)."""
        return self.n_heads // self.n_kv_heads


class ModelSettingsForTokenizer(ModelSettings):
    """A `ModelSettings` whose `vocab_size: null` means "the tokenizer's" (`pretraining.model`): the model
    is sized for a tokenizer trained in the same run. `for_tokenizer` resolves it, with the tokenizer's
    BOS/EOS/pad ids where the config does not set them."""

    vocab_size: int | None = Field(None, ge=1, description="None: len(tokenizer)")

    def for_tokenizer(self, tokenizer: Any) -> ModelSettings:
        fields = self.model_dump(exclude_unset=True)
        if self.vocab_size is None:
            fields["vocab_size"] = len(tokenizer)
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            fields.setdefault(name, getattr(tokenizer, name, None))
        return ModelSettings(**fields)


def tiny_config(**overrides: Any) -> ModelSettings:
    """Default tiny dense model: hidden 128, 4 layers, GQA 4/2, SwiGLU 384, vocab 4096; 1,836,160 params."""
    return ModelSettings(**overrides)


def tiny_moe_config(**overrides: Any) -> ModelSettings:
    """The tiny Mixtral-style variant: same trunk, 4 SwiGLU experts per layer, top-2 routing."""
    return ModelSettings(**{"moe": MoESettings(n_experts=4, top_k=2), **overrides})


def load_architecture(path: str | Path) -> ModelSettings:
    """Read a plain-YAML architecture file (e.g. `conf/base/architectures/llama2_7b.yml`)."""
    import yaml

    with Path(path).open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of ModelSettings fields, got {type(data).__name__}")
    return ModelSettings(**data)
