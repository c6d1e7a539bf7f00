"""The article's question at a real model size: is LLaMA-3-8B decoding compute- or memory-bound at bs 1/4/16?

Builds a LLaMA-3-8B-shaped model (`conf/base/architectures/llama3_8b.yml`) with random weights in bf16
directly on the GPU (no download: the shapes, not the weights, decide the roofline), takes the device's
ceilings (nominal bf16 peak and HBM bandwidth for a known GPU, else measured), and runs the same harness
and roofline analysis as `kedro run --pipelines latency`, printing per batch size the regime (intensity
vs ridge) and the efficiency (utilisation of the limiting ceiling, share of the step that is overhead).

    python benchmarks/latency_llama3_8b.py                      # on a GPU
    python benchmarks/latency_llama3_8b.py --arch <tiny.yml> --device cpu --dtype float32   # dry run

Without CUDA it stops at once (exit 2) instead of building 16 GB of weights on the CPU and decoding for
hours; `--device cpu` is the explicit way to run it there anyway.

Expected on an H100/H200: batch 1 memory-bandwidth-bound (16 GB of weights per token; TPOT ≈ weights /
HBM bandwidth), intensity ≈ B FLOP/byte, far below the ridge (~200–300 FLOP/byte), so batch 16 is still
memory-bandwidth-bound and its tokens/s ~16x batch 1.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from llm_lifecycle.benchmarking.ceilings import device_ceiling
from llm_lifecycle.benchmarking.latency import (
    LatencyHarnessSettings,
    decode_shape,
    llc_bytes,
    measure_kv_cache,
    measure_latency,
)
from llm_lifecycle.benchmarking.roofline import analyse_decode_step
from llm_lifecycle.modeling import load_architecture
from llm_lifecycle.modeling.build import to_hf_config

ROOT = Path(__file__).resolve().parents[1]


def build_random(arch: Path, device: str, dtype: str) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    hf_cfg = to_hf_config(load_architecture(arch), experts_implementation=None)
    torch.manual_seed(0)
    with torch.device(device):  # allocate and initialise on the device: no 16 GB host copy
        model = AutoModelForCausalLM.from_config(hf_cfg, dtype=getattr(torch, dtype))
    return model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", type=Path, default=ROOT / "conf/base/architectures/llama3_8b.yml")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (explicitly: slow for 8B)")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--min-repeats", type=int, default=10)
    ap.add_argument("--min-time-s", type=float, default=10.0)
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        ap.exit(
            2,
            f"{ap.prog}: needs a CUDA GPU (torch sees none): {args.arch.stem} in {args.dtype} decodes "
            "for hours on a CPU. Run it on a GPU machine, or pass --device cpu explicitly (e.g. with a "
            "small --arch and --dtype float32 for a dry run).\n",
        )
    logging.basicConfig(level=logging.INFO)

    ceiling = device_ceiling(args.device)
    model = build_random(args.arch, args.device, args.dtype)
    shape = decode_shape(model)
    kv = measure_kv_cache(model, batch_size=1, tokens=args.prompt_tokens)
    settings = LatencyHarnessSettings(
        batch_sizes=args.batch_sizes,
        prompt_tokens=args.prompt_tokens,
        new_tokens=args.new_tokens,
        min_repeats=args.min_repeats,
        min_time_s=args.min_time_s,
    )
    rows = measure_latency(model, settings, name=args.arch.stem)
    print(
        f"\n{args.arch.stem}: {shape.n_matmul_params / 1e9:.2f} B matmul weights, "
        f"{shape.weight_bytes / 2**30:.1f} GiB "
        f"{args.dtype}; KV cache {kv['measured_bytes']} B measured vs {kv['formula_bytes']} B formula "
        f"({args.prompt_tokens} tokens)"
    )
    print(
        f"ceilings ({ceiling.source}, {ceiling.device}): {ceiling.flops / 1e12:.0f} TFLOP/s, "
        f"{ceiling.bandwidth / 1e12:.2f} TB/s, ridge {ceiling.flops / ceiling.bandwidth:.0f} FLOP/byte\n"
    )
    print(
        f"{'bs':>3} {'TTFT ms':>9} {'TPOT ms':>9} {'tok/s':>9} {'pred ms':>9} {'meas/pred':>9} {'MBU':>5} "
        f"{'MFU':>5} {'intensity':>9} {'I/ridge':>7}  regime; efficiency"
    )
    cache = llc_bytes() if args.device == "cpu" else None
    for r in rows:
        p = analyse_decode_step(
            shape,
            r["batch_size"],
            args.prompt_tokens + args.new_tokens // 2,
            r["tpot_s"],
            ceiling.flops,
            ceiling.bandwidth,
            llc_bytes=cache,
        )
        print(
            f"{r['batch_size']:>3} {r['ttft_s'] * 1e3:>9.1f} {r['tpot_s'] * 1e3:>9.2f} "
            f"{r['tokens_per_s']:>9.0f} "
            f"{p.t_predicted_s * 1e3:>9.2f} {p.measured_over_predicted:>9.2f} {p.mbu:>5.2f} {p.mfu:>5.2f} "
            f"{p.intensity:>9.1f} {p.intensity_over_ridge:>7.3f}  {p.summary}"
        )


if __name__ == "__main__":
    main()
