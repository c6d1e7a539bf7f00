"""The course article's numbers that are plans in disguise, recomputed by the planner's own code.

Each row: what the article says, what the plan computes, and how. The three claims:

1. "LLaMA-2-7B generates ~50 tokens/s on an A100 without batching": a batch-1 decode step reads every
   weight and the KV cache once, so the bandwidth bound is bandwidth ÷ (fp16 weight bytes + KV bytes at
   the context), `benchmarking.roofline`; 50 tokens/s is a fraction of it (the rest is kernel launches
   and skinny-GEMM inefficiency).
2. "LLaMA-3 (70B): 1.4 trillion tokens, 2048 A100, ~2 months; $5–50M a run": training FLOPs 6·N·D
   (Kaplan et al. 2020), days on 2048 A100 at a stated MFU, the MFU that "two months" implies, and the
   cost at a GPU-hour price. Checked against public facts: LLaMA-65B, 1.4 T tokens on 2048 A100-80GB in
   about 21 days (Touvron et al. 2023a); LLaMA-3-70B, 15 T tokens, 6.4 M H100-hours (its model card).
3. The KV-cache example: the article's own product 32·4096·2·32768·2 bytes is 16 GiB, not 8 GB, and
   LLaMA-2-7B has 32 key/value heads (MHA), not 4 (`calculator.kv_cache_check`, in the architecture
   report).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from llm_lifecycle.benchmarking.roofline import decode_bytes, decode_shape_of
from llm_lifecycle.modeling.calculator import GIB, kv_cache_bytes, kv_cache_check, parameter_counts
from llm_lifecycle.modeling.config import ModelSettings
from llm_lifecycle.planning.devices import KNOWN_GPUS

DAY = 86_400.0


def six_n_d(cfg: ModelSettings, tokens: float) -> float:
    """Training FLOPs ≈ 6 · N · D (N: every parameter, as the article and Kaplan et al. count)."""
    return 6.0 * parameter_counts(cfg).total * tokens


def days_on(flops: float, gpus: int, peak: float, mfu: float) -> float:
    return flops / (gpus * peak * mfu) / DAY


def implied_mfu(flops: float, gpus: int, peak: float, days: float) -> float:
    return flops / (gpus * peak * days * DAY)


def article_table(
    archs: Mapping[str, ModelSettings], *, decode_context: int, mfu: float, gpu_hour_usd: Mapping[str, float]
) -> pd.DataFrame:
    """The "what the article says / what the plan computes" table (columns claim, article, plan, how)."""
    a100, h100 = KNOWN_GPUS["A100-80GB"], KNOWN_GPUS["H100-SXM"]
    rows = []

    # 1. decode bound of LLaMA-2-7B on an A100 at batch 1
    llama2 = archs["llama2_7b"]
    shape = decode_shape_of(llama2, "float16")
    step_bytes = decode_bytes(shape, 1, decode_context)
    bound = a100.bandwidth / step_bytes
    rows.append(
        {
            "claim": "LLaMA-2-7B decodes ~50 tokens/s on an A100 without batching",
            "article": "50 tokens/s",
            "plan": f"bound {bound:.0f} tokens/s at {decode_context} tokens of context; "
            f"50 is {50 / bound:.0%} of it",
            "how": f"A100-80GB {a100.bandwidth / 1e12:.3f} TB/s ÷ "
            f"({shape.weight_bytes / 1e9:.2f} GB fp16 weights "
            f"+ {decode_context} x {shape.kv_bytes_per_token / 2**20:.1f} MiB KV) per token",
        }
    )

    # 2. LLaMA-3-70B as the article describes it, then the public facts
    llama3, llama1 = archs["llama3_70b"], archs["llama1_65b"]
    flops = six_n_d(llama3, 1.4e12)
    days = days_on(flops, 2048, a100.flops_bf16, mfu)
    mfu_2_months = implied_mfu(flops, 2048, a100.flops_bf16, 60)
    price = gpu_hour_usd["A100-80GB"]
    cost_days, cost_2_months = 2048 * days * 24 * price, 2048 * 60 * 24 * price
    rows += [
        {
            "claim": "LLaMA-3 (70B): 1.4 T tokens, 2048 A100, ~2 months",
            "article": "~2 months",
            "plan": f"{flops:.2e} FLOPs = {days:.0f} days at MFU {mfu:.0%}; "
            f"two months means MFU {mfu_2_months:.0%}",
            "how": f"6·N·D, N = {parameter_counts(llama3).total / 1e9:.2f} B, D = 1.4 T; "
            "2048 x 312 TFLOP/s bf16",
        },
        {
            "claim": "... $5-50M a run",
            "article": "$5-50M",
            "plan": f"${cost_days / 1e6:.1f}M ({days:.0f} days) to ${cost_2_months / 1e6:.1f}M (60 days)",
            "how": f"2048 GPUs x hours x ${price:g} per A100-hour (plan.prices.gpu_hour)",
        },
    ]
    facts = (
        (
            "LLaMA-65B: 1.4 T tokens, 2048 A100-80GB, ~21 days (Touvron et al. 2023a)",
            llama1,
            1.4e12,
            2048 * 21 * 24,
            a100,
        ),
        ("LLaMA-3-70B: 15 T tokens, 6.4 M H100-hours (model card)", llama3, 15e12, 6.4e6, h100),
    )
    for claim, cfg, tokens, gpu_hours, gpu in facts:
        f = six_n_d(cfg, tokens)
        rows.append(
            {
                "claim": claim,
                "article": "(public fact)",
                "plan": f"{f:.2e} FLOPs in {gpu_hours:,.0f} GPU-hours: "
                f"MFU {f / (gpu_hours * 3600 * gpu.flops_bf16):.0%}",
                "how": f"6·N·D, N = {parameter_counts(cfg).total / 1e9:.2f} B ÷ "
                f"(GPU-hours x {gpu.flops_bf16 / 1e12:.0f} TFLOP/s)",
            }
        )

    # 3. the KV-cache example
    product = 32 * 4096 * 2 * 32768 * 2
    four_heads = kv_cache_bytes(llama2.model_copy(update={"n_kv_heads": 4}), 32768, 1, "float16")
    check = kv_cache_check()
    rows.append(
        {
            "claim": "KV cache of a 32-layer, 4096-wide model at 32k tokens (fp16)",
            "article": "8 GB",
            "plan": f"{product:,} bytes = {product / GIB:g} GiB; "
            f"LLaMA-2-7B has {llama2.n_kv_heads} KV heads, not 4 (4 would give {four_heads / GIB:g} GiB)",
            "how": f"32·4096·2·32768·2; {check.formula} (architecture report, KV cache check row)",
        }
    )
    return pd.DataFrame(rows, columns=["claim", "article", "plan", "how"])
