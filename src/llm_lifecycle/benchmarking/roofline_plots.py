"""The roofline plot (log-log, both ceilings, one point per model × batch) and latency/throughput vs batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def roofline_plot(points: Sequence[Mapping[str, Any]], peak_flops: float, bandwidth: float) -> Any:
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = [p["intensity"] for p in points] or [1.0]
    lo, hi = min(min(xs) / 4, 0.05), max(max(xs) * 4, 4 * peak_flops / bandwidth)
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.loglog(
        grid, np.minimum(peak_flops, bandwidth * grid) / 1e9, color="black", label="roofline (same run)"
    )
    ax.axvline(
        peak_flops / bandwidth,
        color="gray",
        linestyle=":",
        label=f"ridge {peak_flops / bandwidth:.1f} FLOP/B",
    )
    markers = {"compute-bound": "s", "memory-bandwidth-bound": "o"}
    for model in dict.fromkeys(p["model"] for p in points):
        mine = [p for p in points if p["model"] == model]
        line = ax.plot(
            [p["intensity"] for p in mine], [p["achieved_flops"] / 1e9 for p in mine], "--", alpha=0.5
        )[0]
        for p in mine:
            ax.plot(
                p["intensity"],
                p["achieved_flops"] / 1e9,
                markers.get(p["regime"], "x"),
                color=line.get_color(),
                markerfacecolor="none" if p.get("fits_in_cache") else line.get_color(),
            )
            ax.annotate(
                f"{model} bs{p['batch_size']}",
                (p["intensity"], p["achieved_flops"] / 1e9),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
    ax.set_xlabel("arithmetic intensity of a decode step (FLOP/byte)")
    ax.set_ylabel("achieved GFLOP/s")
    # the gap between a point and the roof under it is the step's overhead share
    ax.set_title("Decode roofline (○ memory-bandwidth-bound, □ compute-bound; hollow: fits in cache)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def latency_plot(rows: Sequence[Mapping[str, Any]]) -> Any:
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["batch_size"])
        bs = [r["batch_size"] for r in mine]
        a1.plot(bs, [r["tpot_s"] * 1e3 for r in mine], "o-", label=f"{model} TPOT")
        a1.plot(bs, [r["ttft_s"] * 1e3 for r in mine], "s--", label=f"{model} TTFT")
        a2.plot(bs, [r["tokens_per_s"] for r in mine], "o-", label=model)
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.legend(fontsize=8)
    a1.set_yscale("log")
    a1.set_ylabel("ms")
    a1.set_title("latency")
    a2.set_ylabel("output tokens/s")
    a2.set_title("throughput")
    fig.tight_layout()
    return fig
