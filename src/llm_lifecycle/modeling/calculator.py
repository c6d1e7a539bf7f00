"""Architecture calculator: parameters, KV cache, GQA saving and FLOPs of a `ModelSettings`, by arithmetic.

Design
------
Pure Python on the config (no torch): it runs in a report node in milliseconds for a 47 B-parameter model,
and the tests hold it to the exact `numel` of the `transformers` model built on the meta device.

Notation: V vocab, H hidden size, L layers, n_h query heads, n_kv key/value heads, Q head dim,
I SwiGLU width (per expert), E experts, k experts per token, T context (tokens attended), B batch.

Parameters (no biases anywhere: LLaMA, Touvron et al. 2023; Mixtral, Jiang et al. 2024)
  embedding            V·H
  attention / layer    H·n_h·Q (q) + 2·H·n_kv·Q (k, v; GQA, Ainslie et al. 2023) + n_h·Q·H (o)
  FFN / layer          3·H·I (SwiGLU gate, up, down; Shazeer 2020), times E experts for MoE
  router / layer       E·H (linear, no bias; softmax gates, top-k)
  RMSNorm              2·H per layer + H final (one weight vector each; Zhang & Sennrich 2019)
  LM head              V·H, or 0 when tied to the embedding
  RoPE (Su et al. 2021) has no parameters (its inverse frequencies are a buffer).
Active parameters per token: everything except the (E − k) experts a token skips in each layer.

KV cache: 2 (K and V) · L · n_kv · Q · bytes_per_value per token and sequence; MHA would store n_h heads,
so GQA divides the cache by n_h / n_kv.

FLOPs per token (PaLM, Chowdhery et al. 2022, appendix B): training ≈ 6·N + 12·L·n_h·Q·T, where here
N = active parameters that take part in a matmul = active parameters − input embedding (a lookup does
no matmul) + the LM head (it is a V×H matmul even when its weight is tied to the embedding). RMSNorm
weights are counted in N as PaLM does (a rounding error). The attention term is 3 (forward + backward)
× 2 (FLOP per MAC) × 2 (QKᵀ and A·V) × L·n_h·Q·T; it uses query heads, GQA does not reduce it.
One decode step at context T: forward only, 2·N + 4·L·n_h·Q·T per sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from llm_lifecycle.modeling.config import DTYPE_BYTES, ModelSettings

GIB = 1024**3
MIB = 1024**2


def _num(x: float) -> int | float:
    """Keep exact integers as int (byte counts of int4 caches may be halves)."""
    return int(x) if float(x).is_integer() else x


def dtype_bytes(dtype: str) -> float:
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"dtype {dtype!r} is not one of {sorted(DTYPE_BYTES)}")
    return DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class ParameterCounts:
    """Parameter counts by component (whole model unless the name says otherwise)."""

    embedding: int
    attention: int  # q, k, v, o of all layers
    ffn: int  # dense SwiGLU, or all experts of all layers
    router: int  # MoE routers (0 for dense)
    norms: int  # RMSNorm weights: 2 per layer + final
    lm_head: int  # 0 when tied
    total: int  # == sum(p.numel() for p in model.parameters())
    active: int  # per token: top_k of n_experts experts
    flops_params: int  # N of the FLOP formulas: active − embedding lookup + LM head matmul

    @property
    def matmul(self) -> int:
        """Weights a token multiplies by (`flops_params` without the RMSNorm gains): for a dense model,
        exactly the `nn.Linear` weights, LM head included."""
        return self.flops_params - self.norms

    @property
    def non_embedding(self) -> int:
        """Total minus input embedding and (untied) LM head: the N of Kaplan et al. 2020."""
        return self.total - self.embedding - self.lm_head


def parameter_counts(cfg: ModelSettings) -> ParameterCounts:
    h, q, n_layers = cfg.hidden_size, cfg.resolved_head_dim, cfg.n_layers
    embedding = cfg.vocab_size * h
    attn_layer = h * cfg.n_heads * q + 2 * h * cfg.n_kv_heads * q + cfg.n_heads * q * h
    expert = 3 * h * cfg.intermediate_size  # gate (H→I), up (H→I), down (I→H)
    n_experts, top_k = (cfg.moe.n_experts, cfg.moe.top_k) if cfg.moe else (1, 1)
    router_layer = n_experts * h if cfg.moe else 0
    norms = (2 * n_layers + 1) * h
    lm_head = 0 if cfg.tie_word_embeddings else cfg.vocab_size * h

    attention = n_layers * attn_layer
    ffn = n_layers * n_experts * expert
    router = n_layers * router_layer
    total = embedding + attention + ffn + router + norms + lm_head
    active = total - n_layers * (n_experts - top_k) * expert
    flops_params = active - embedding + (cfg.vocab_size * h if cfg.tie_word_embeddings else 0)
    return ParameterCounts(embedding, attention, ffn, router, norms, lm_head, total, active, flops_params)


def kv_cache_bytes(
    cfg: ModelSettings, tokens: int = 1, batch: int = 1, dtype: str | None = None
) -> int | float:
    """2 · L · n_kv · Q · tokens · batch · bytes_per_value (K and V of every layer)."""
    per_value = dtype_bytes(dtype or cfg.dtype)
    return _num(2 * cfg.n_layers * cfg.n_kv_heads * cfg.resolved_head_dim * tokens * batch * per_value)


def gqa_saving(
    cfg: ModelSettings, tokens: int = 1, batch: int = 1, dtype: str | None = None
) -> dict[str, Any]:
    """KV cache of this config vs the same model with MHA (n_kv = n_h)."""
    gqa = kv_cache_bytes(cfg, tokens, batch, dtype)
    mha = _num(gqa * cfg.gqa_group_size)
    return {"ratio": cfg.gqa_group_size, "mha_bytes": mha, "gqa_bytes": gqa, "bytes_saved": _num(mha - gqa)}


def forward_flops(n_params: int, n_layers: int, attn_dim: int, context: int) -> int:
    """FLOPs of one token's forward pass attending to `context` tokens: 2·N (one multiply-add per weight)
    + 4·L·d_attn·T (QKᵀ and A·V, d_attn = n_h·Q). Training is 3× this: backward costs twice the forward."""
    return 2 * n_params + 4 * n_layers * attn_dim * context


def attention_flops_per_token(cfg: ModelSettings, context: int, training: bool) -> int:
    """12·L·n_h·Q·T for training (PaLM appendix B), 4·L·n_h·Q·T for a forward/decode step."""
    attn_dim = cfg.n_heads * cfg.resolved_head_dim
    return (3 if training else 1) * forward_flops(0, cfg.n_layers, attn_dim, context)


def training_flops_per_token(cfg: ModelSettings, seq_len: int) -> int:
    """6·N + 12·L·n_h·Q·T, N = `ParameterCounts.flops_params`."""
    n_params, attn_dim = parameter_counts(cfg).flops_params, cfg.n_heads * cfg.resolved_head_dim
    return 3 * forward_flops(n_params, cfg.n_layers, attn_dim, seq_len)


def decode_flops_per_token(cfg: ModelSettings, context: int) -> int:
    """One decode step of one sequence attending to `context` tokens: 2·N + 4·L·n_h·Q·T."""
    n_params, attn_dim = parameter_counts(cfg).flops_params, cfg.n_heads * cfg.resolved_head_dim
    return forward_flops(n_params, cfg.n_layers, attn_dim, context)


@dataclass(frozen=True)
class ArchitectureReport:
    """Everything `report_table` shows, as numbers (bytes in bytes, FLOPs per token)."""

    model_type: str
    context: int
    batch: int
    dtype: str
    params: ParameterCounts
    weight_bytes: int | float
    kv_bytes_per_token: int | float  # one sequence, one token
    kv_bytes_total: int | float  # context × batch
    gqa_ratio: int
    mha_kv_bytes_total: int | float
    gqa_bytes_saved: int | float
    train_flops_per_token: int
    train_attention_flops_per_token: int
    decode_flops_per_token: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def analyze(
    cfg: ModelSettings, context: int | None = None, batch: int = 1, dtype: str | None = None
) -> ArchitectureReport:
    """All calculator numbers for `cfg` at `context` tokens (default: max_position_embeddings) and `batch`."""
    context = context or cfg.max_position_embeddings
    dtype = dtype or cfg.dtype
    params = parameter_counts(cfg)
    saving = gqa_saving(cfg, context, batch, dtype)
    return ArchitectureReport(
        model_type=cfg.model_type,
        context=context,
        batch=batch,
        dtype=dtype,
        params=params,
        weight_bytes=_num(params.total * dtype_bytes(dtype)),
        kv_bytes_per_token=kv_cache_bytes(cfg, 1, 1, dtype),
        kv_bytes_total=saving["gqa_bytes"],
        gqa_ratio=saving["ratio"],
        mha_kv_bytes_total=saving["mha_bytes"],
        gqa_bytes_saved=saving["bytes_saved"],
        train_flops_per_token=training_flops_per_token(cfg, context),
        train_attention_flops_per_token=attention_flops_per_token(cfg, context, training=True),
        decode_flops_per_token=decode_flops_per_token(cfg, context),
    )


# --- the LLaMA-2-7B KV-cache check ---------------------------------------------------------------------

# LLaMA-2-7B's published config.json (meta-llama/Llama-2-7b-hf); conf/base/architectures/llama2_7b.yml
# holds the same values for the report pipeline.
LLAMA2_7B = ModelSettings(
    vocab_size=32000,
    hidden_size=4096,
    n_layers=32,
    n_heads=32,
    n_kv_heads=32,
    intermediate_size=11008,
    max_position_embeddings=4096,
    rope_theta=10_000.0,
    rms_norm_eps=1e-5,
    dtype="float16",
)


@dataclass(frozen=True)
class KVCacheCheck:
    formula: str
    bytes_per_token: int
    context: int
    bytes_per_sequence: int
    note: str


def kv_cache_check() -> KVCacheCheck:
    """The LLaMA-2-7B KV cache, computed from the formula, to check the course article's example against.

    LLaMA-2-7B uses MHA (32 key/value heads, no GQA), head_dim = 4096 / 32 = 128, fp16 = 2 bytes:
    2 (K, V) × 32 layers × 32 kv heads × 128 × 2 bytes = 524,288 bytes = 0.5 MiB per token, so a full
    4096-token sequence holds 2,147,483,648 bytes = 2 GiB (a batch of 16 such sequences: 32 GiB, more
    than the 13.5 GB of fp16 weights).
    """
    cfg = LLAMA2_7B
    per_token = int(kv_cache_bytes(cfg, 1, 1, "float16"))
    context = cfg.max_position_embeddings
    per_sequence = int(kv_cache_bytes(cfg, context, 1, "float16"))
    formula = (
        f"2 (K,V) x {cfg.n_layers} layers x {cfg.n_kv_heads} kv heads x {cfg.resolved_head_dim} head_dim "
        f"x 2 bytes (fp16)"
    )
    note = (
        "course article's example is wrong: checking the formula for LLaMA-2-7B "
        "(MHA: kv heads = heads = 32), "
        f"{formula} = {per_token:,} bytes = {per_token / MIB:g} MiB per token; correct value at "
        f"{context} tokens = {per_sequence:,} bytes = {per_sequence / GIB:g} GiB per sequence"
    )
    return KVCacheCheck(formula, per_token, context, per_sequence, note)


def _is_llama2_7b(cfg: ModelSettings) -> bool:
    keys = ("vocab_size", "hidden_size", "n_layers", "n_heads", "n_kv_heads", "intermediate_size", "moe")
    return all(getattr(cfg, k) == getattr(LLAMA2_7B, k) for k in keys)


def _human_count(n: float) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e9 else f"{n / 1e6:.3f} M"


def _human_bytes(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:,.4g} {unit}"
    return f"{n:g} B"


def report_table(
    cfg: ModelSettings, context: int | None = None, batch: int = 1, dtype: str | None = None
) -> pd.DataFrame:
    """The calculator as a table: columns quantity, value (float64, exact below 2**53), unit, note."""
    r = analyze(cfg, context, batch, dtype)
    p = r.params
    h, q = cfg.hidden_size, cfg.resolved_head_dim
    moe = cfg.moe
    kv_formula = f"2·L·n_kv·Q·bytes = 2·{cfg.n_layers}·{cfg.n_kv_heads}·{q}·{dtype_bytes(r.dtype):g}"
    kv_note = f"{kv_formula} = {_human_bytes(r.kv_bytes_per_token)}"
    weights_note = f"{_human_bytes(r.weight_bytes)} in {r.dtype}"
    if _is_llama2_7b(cfg):
        kv_note += " (0.5 MiB per token in fp16; see the KV cache check row)"
    if moe:
        weights_note += "; all experts (a batch-1 decode step reads only the active ones)"
        ffn_note = f"{moe.n_experts} experts x 3·H·I per layer (SwiGLU experts)"
        active_note = f"top_k={moe.top_k} of {moe.n_experts} experts per token"
    else:
        ffn_note = "3·H·I per layer (SwiGLU gate, up, down)"
        active_note = "dense: every parameter is used for every token"
    rows: list[tuple[str, float, str, str]] = [
        ("params: embedding", p.embedding, "params", f"V·H = {cfg.vocab_size}·{h}; a lookup, no matmul"),
        (
            "params: attention q/k/v/o",
            p.attention,
            "params",
            f"per layer H·n_h·Q + 2·H·n_kv·Q + n_h·Q·H, n_h={cfg.n_heads}, n_kv={cfg.n_kv_heads}, Q={q}",
        ),
        ("params: FFN / experts", p.ffn, "params", ffn_note),
        (
            "params: router",
            p.router,
            "params",
            "E·H per layer (linear + softmax gates)" if moe else "dense: none",
        ),
        ("params: RMSNorm", p.norms, "params", "2·H per layer + final H"),
        (
            "params: LM head",
            p.lm_head,
            "params",
            "tied to embedding" if cfg.tie_word_embeddings else "V·H, untied",
        ),
        ("params: total", p.total, "params", f"{_human_count(p.total)}; equals the built model's numel"),
        ("params: active per token", p.active, "params", f"{_human_count(p.active)}; {active_note}"),
        (
            "params: N for FLOPs",
            p.flops_params,
            "params",
            "active − embedding lookup + LM head matmul (PaLM's N, non-embedding)",
        ),
        ("weights", r.weight_bytes, "bytes", weights_note),
        ("KV cache per token", r.kv_bytes_per_token, "bytes", kv_note),
        (
            f"KV cache at {r.context} tokens x batch {r.batch}",
            r.kv_bytes_total,
            "bytes",
            _human_bytes(r.kv_bytes_total),
        ),
        (
            "GQA ratio n_heads / n_kv_heads",
            r.gqa_ratio,
            "x",
            "1 = MHA (no saving)"
            if r.gqa_ratio == 1
            else f"{cfg.n_heads} query heads share {cfg.n_kv_heads} kv heads",
        ),
        (
            f"MHA KV cache at {r.context} tokens x batch {r.batch}",
            r.mha_kv_bytes_total,
            "bytes",
            _human_bytes(r.mha_kv_bytes_total),
        ),
        ("GQA bytes saved vs MHA", r.gqa_bytes_saved, "bytes", _human_bytes(r.gqa_bytes_saved)),
        (
            f"training FLOPs per token (T={r.context})",
            r.train_flops_per_token,
            "FLOP",
            "6·N + 12·L·n_h·Q·T (PaLM appendix B)",
        ),
        (
            "training FLOPs per token: attention term",
            r.train_attention_flops_per_token,
            "FLOP",
            "12·L·n_h·Q·T",
        ),
        (
            f"decode FLOPs per token (T={r.context})",
            r.decode_flops_per_token,
            "FLOP",
            "2·N + 4·L·n_h·Q·T per sequence; x batch per step",
        ),
    ]
    if _is_llama2_7b(cfg):
        check = kv_cache_check()
        rows.append(
            (
                f"KV cache check: LLaMA-2-7B fp16, {check.context} tokens",
                check.bytes_per_sequence,
                "bytes",
                check.note,
            )
        )
    df = pd.DataFrame(rows, columns=["quantity", "value", "unit", "note"])
    df["value"] = df["value"].astype("float64")
    return df
