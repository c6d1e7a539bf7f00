"""The run's report card: one self-contained HTML page with every stage's headline numbers and plots.

Design
------
The report is built from catalog entries only: the stage tables (funnel, tokenizer stats, pretraining log,
MT-Bench scores and win rates, roofline table, reward margins), the stage metrics (versioned files that
were also logged to MLflow, `llm_lifecycle.datasets.MetricsDataset`), this run's time per node and the
data folder's lineage. Figures are redrawn from the tables
with the stages' own plotting functions, so the report never disagrees with a stage's figure, and are
embedded as base64 PNG: the page opens from disk, from the MLflow UI (artifact `report/report_card.html`)
or from e-mail without the files next to it. Every number shown carries its source metric name in a
tooltip (`title=`), so a reader can find it in MLflow.

The report node's inputs make it the last node of `kedro run` (every stage feeds it). Its inputs are
files, so `kedro run --pipelines report` alone rebuilds it from the stored results of earlier runs. The
section builders accept None for any input (a
"not in this run" line), so the library can also render partial reports, as the tests do.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Metrics = Mapping[str, float]


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)  # HTML fragments (already escaped)
    tables: list[Any] = field(default_factory=list)  # pandas DataFrames
    figures: list[Any] = field(default_factory=list)  # matplotlib Figures


def last_values(*metric_sets: Mapping[str, Any] | None) -> dict[str, float]:
    """`{key: last value}` from kedro-mlflow metric dicts (`{"value", "step"}` or a list of them)."""
    out: dict[str, float] = {}
    for metrics in metric_sets:
        for key, entry in (metrics or {}).items():
            points = entry if isinstance(entry, list) else [entry]
            if points:
                last = max(points, key=lambda p: p.get("step", 0))
                out[key] = float(last["value"])
    return out


def fmt(value: float | None, digits: int = 3) -> str:
    """Whole numbers with thousands separators, others with `digits` significant digits (2 decimals ≥ 1)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if v.is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1e5 or abs(v) < 1e-3 or abs(v) < 1:
        return f"{v:.{digits}g}"
    return f"{v:,.{max(digits - 1, 1)}f}"


def _num(metrics: Metrics, key: str, label: str, digits: int = 3, unit: str = "") -> str:
    value = metrics.get(key)
    shown = fmt(value, digits) + (f" {unit}" if unit and value is not None else "")
    return f'{html.escape(label)} <b title="{html.escape(key)}">{html.escape(shown)}</b>'


def _line(metrics: Metrics, *items: tuple) -> str:
    return " · ".join(_num(metrics, *item) for item in items)


def figure_html(fig: Any, width: int = 720) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" style="max-width:{width}px;width:100%">'


def render_html(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The page: a table of contents, then each section's lines, tables and figures."""
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;",
        "padding:2px 6px;text-align:right}th{background:#f3f3f3}h2{border-bottom:1px solid #ddd}",
        ".missing{color:#a00}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p><ol>{toc}</ol>",
    ]
    for i, section in enumerate(sections):
        parts.append(f'<h2 id="s{i}">{html.escape(section.title)}</h2>')
        parts += [f"<p>{line}</p>" for line in section.lines]
        parts += [t.to_html(index=False, float_format=lambda v: fmt(v, 3), border=0) for t in section.tables]
        parts += [figure_html(f) for f in section.figures]
    parts.append("</body></html>")
    return "\n".join(parts)


def missing(what: str, pipeline: str) -> str:
    text = f"{html.escape(what)}: not in this run (pipeline <code>{pipeline}</code>)"
    return f'<span class="missing">{text}</span>'


def data_section(funnel: Any, tokenizer_stats: Any, m: Metrics) -> Section:
    from llm_lifecycle.filtering.evaluation import funnel_plot

    s = Section("1. Data filtering and tokenizer")
    if funnel is None:
        s.lines.append(missing("filter funnel", "data_filtering"))
    else:
        s.lines.append(
            _line(
                m,
                ("data_filtering.docs_in", "documents in", 4),
                ("data_filtering.docs_kept", "kept", 4),
                ("data_filtering.precision", "precision vs hidden noise labels"),
                ("data_filtering.recall", "recall"),
            )
        )
        s.tables.append(funnel[["rule", "docs_remaining", "docs_removed", "docs_kept_share"]])
        s.figures.append(funnel_plot(funnel))
    if tokenizer_stats is None:
        s.lines.append(missing("tokenizer statistics", "tokenizer"))
    else:
        s.lines.append("Byte-level BPE: bytes per token (higher = better compression) by language.")
        s.tables.append(tokenizer_stats[["lang", "bytes_per_token", "tokens_per_word"]])
    return s


def pretraining_section(pretraining_log: Any, m: Metrics) -> Section:
    from llm_lifecycle.training.pretraining.plots import loss_plot

    s = Section("2. Pretraining")
    if pretraining_log is None:
        s.lines.append(missing("pretraining log", "pretraining"))
        return s
    s.lines.append(
        _line(
            m,
            ("pretraining.params_total", "parameters", 3),
            ("pretraining.tokens_seen", "tokens", 3),
            ("pretraining.val_loss_final", "validation loss"),
            ("pretraining.unigram_val_loss", "unigram baseline"),
            ("pretraining.mfu_median", "MFU (median)"),
        )
    )
    s.lines.append(
        _line(
            m,
            ("pretraining.eval.accuracy", "toy-world fact cloze accuracy"),
            ("pretraining.eval.chance", "chance"),
        )
    )
    s.figures.append(loss_plot(pretraining_log))
    return s


def alignment_section(m: Metrics, reward_pairs: Any, scores: Any = None) -> Section:
    import pandas as pd

    from llm_lifecycle.training.alignment.reward_plots import margin_histogram

    s = Section("3. Post-training: SFT, DPO and RLHF (reward model + RLOO)")
    s.lines.append(
        _line(
            m,
            ("sft.eval_loss_start", "SFT eval loss before"),
            ("sft.eval_loss_final", "after"),
            ("sft.mean_token_accuracy_last", "token accuracy"),
        )
    )
    s.lines.append(
        _line(
            m,
            ("preferences.kept", "preference pairs kept", 4),
            ("preferences.prompts", "of prompts", 4),
            ("dpo.eval/rewards/accuracies_last", "DPO held-out reward accuracy"),
            ("dpo.eval/rewards/margins_last", "margin"),
            ("dpo.kl/kl_seq", "KL to SFT (nats/answer)"),
        )
    )
    s.lines.append(
        _line(
            m,
            ("reward_model.val/accuracy", "reward model held-out pair accuracy"),
            ("reward_model.val/margin_median", "median margin"),
            ("rlhf.eval/rm_reference", "RM score: SFT samples"),
            ("rlhf.eval/rm_policy", "RLOO samples"),
            ("rlhf.eval/kl_seq", "KL to SFT (nats/answer)"),
        )
    )
    rows = []
    for method, stages in (("SFT", ["sft"]), ("DPO", ["dpo"]), ("RLHF", ["reward_model", "rlhf"])):
        if all(f"{st}.wall_s" in m for st in stages):
            rows.append(
                {
                    "method": method,
                    "stages": " + ".join(stages),
                    "steps": sum(m.get(f"{st}.steps", 0.0) for st in stages),
                    "wall_s": sum(m[f"{st}.wall_s"] for st in stages),
                    "tokens_processed": sum(m.get(f"{st}.tokens_seen", 0.0) or 0.0 for st in stages),
                    "mt_bench_score": overall_scores(scores).get(method.lower()),
                }
            )
    if rows:
        s.lines.append(
            "Compute of each method on this machine (training only; DPO and RLHF share the pairs):"
        )
        s.tables.append(pd.DataFrame(rows))
    if reward_pairs is not None:
        s.figures.append(margin_histogram(reward_pairs))
    return s


def overall_scores(scores: Any) -> dict[str, float]:
    """Mean score per model over both turns and all categories, from the `mt_bench_scores` table."""
    if scores is None:
        return {}
    valid = scores.dropna(subset=["mean_score"])
    totals = (valid["mean_score"] * valid["n"]).groupby(valid["model"], sort=False).sum()
    counts = valid["n"].groupby(valid["model"], sort=False).sum()
    return {model: float(totals[model] / counts[model]) for model in totals.index}


def mt_bench_section(scores: Any, winrates: Any) -> Section:
    import pandas as pd

    from llm_lifecycle.judging.plots import category_plot, winrate_plot

    s = Section("4. MT-Bench (LLM-as-judge, 1–10; pairwise with positions swapped)")
    if scores is None or winrates is None:
        s.lines.append(missing("MT-Bench tables", "mt_bench"))
        return s
    overall = overall_scores(scores)
    s.tables.append(pd.DataFrame({"model": list(overall), "score (both turns)": list(overall.values())}))
    s.tables.append(
        winrates[["pair", "wins", "losses", "ties", "adjusted_win_rate", "ci_low", "ci_high"]].assign(
            verdict=lambda t: [
                "first better" if lo > 0.5 else "second better" if hi < 0.5 else "no significant difference"
                for lo, hi in zip(t["ci_low"], t["ci_high"], strict=True)
            ]
        )
    )
    s.figures.append(category_plot(scores.to_dict("records")))
    s.figures.append(winrate_plot({r["pair"]: r for r in winrates.to_dict("records")}))
    return s


def latency_section(roofline: Any, ceilings: Mapping[str, Any] | None) -> Section:
    from llm_lifecycle.benchmarking.roofline_plots import roofline_plot

    s = Section("5. Inference: latency, throughput, the roofline regime and efficiency")
    if roofline is None or not ceilings:
        s.lines.append(missing("roofline table", "latency"))
        return s
    s.lines.append(
        f"Ceilings measured in this run on {html.escape(str(ceilings.get('device')))}: "
        f"<b>{fmt(ceilings['flops'] / 1e9)}</b> GFLOP/s, <b>{fmt(ceilings['bandwidth'] / 1e9)}</b> GB/s "
        f"(ridge {fmt(ceilings['flops'] / ceilings['bandwidth'])} FLOP/byte)."
    )
    table = roofline.assign(
        tpot_ms=roofline["t_measured_s"] * 1e3,
        decode_tokens_per_s=roofline["batch_size"] / roofline["t_measured_s"],
    )
    columns = [
        "model",
        "batch_size",
        "tpot_ms",
        "decode_tokens_per_s",
        "intensity",
        "intensity_over_ridge",
        "regime",
        "measured_over_predicted",
        "mfu",
        "mbu",
        "overhead_share",
    ]
    # regime: intensity vs ridge (the roofline alone); efficiency: the limiting ceiling's utilisation
    # and the share of the step neither ceiling explains, in words in `summary`
    s.tables.append(table[[*columns, "summary"]])
    s.figures.append(roofline_plot(roofline.to_dict("records"), ceilings["flops"], ceilings["bandwidth"]))
    return s


def plan_section(plan: Any, article: Any, m: Metrics) -> Section:
    """The newest plan (`kedro run --pipelines plan`): memory, fits, hours and API cost per stage and
    device setup; on this machine its predictions beside this run's measured training times; and the
    course article's numbers recomputed."""
    from llm_lifecycle.planning.devices import THIS_MACHINE
    from llm_lifecycle.planning.plan import versus_measured

    s = Section("7. The plan: memory, hours and API cost before a run")
    if plan is None:  # not a stage of the run: planning is a separate command
        s.lines.append("No plan made yet in this environment: <code>kedro run --pipelines plan</code>.")
    else:
        table = versus_measured(plan, m, THIS_MACHINE)
        table["to_fit"] = table["to_fit"].fillna("")  # "" (fits) reads back from the CSV as NaN
        s.lines.append(
            "Per stage and device setup, from the parameters and the model built on the meta device "
            "(docs/plan.md). On this machine the plan uses the ceilings and MFU of the run before it; "
            "<code>predicted_over_measured</code> sets it against this run's training times."
        )
        columns = [
            "stage",
            "setup",
            "memory_gb",
            "fits",
            "to_fit",
            "hours",
            "measured_hours",
            "predicted_over_measured",
            "api_calls",
            "api_usd",
        ]
        s.tables.append(table[columns])
    if article is not None:
        s.lines.append("The last table: what the course article says, and what the same code computes.")
        s.tables.append(article)
    return s


# The speed targets of the default run on a 2-core CPU (docs/benchmarks.md): (label, target, higher is better)
SPEED_TARGETS = {
    "pipeline": ("pipeline seconds (sum of the node times)", 300.0, False),
    "sft_vs_pretraining": ("SFT useful tokens/s ÷ pretraining tokens/s", 0.8, True),
    "mfu": ("pretraining MFU (median window)", 0.5, True),
}


def speed_targets(node_times: Mapping[str, float], m: Metrics) -> Any:
    """This run's speed figures beside their targets (a figure this run did not produce shows as –)."""
    import pandas as pd

    sft, pre = m.get("sft.tokens_per_s"), m.get("pretraining.tokens_per_s_median")
    values = {
        "pipeline": sum(node_times.values()) if node_times else None,
        "sft_vs_pretraining": sft / pre if sft and pre else None,
        "mfu": m.get("pretraining.mfu_median"),
    }
    rows = []
    for key, (label, target, higher) in SPEED_TARGETS.items():
        value = values[key]
        met = None if value is None else (value >= target if higher else value <= target)
        rows.append(
            {
                "figure": label,
                "this run": fmt(value),
                "target": ("≥ " if higher else "≤ ") + fmt(target),
                "met": {None: "–", True: "yes", False: "no"}[met],
            }
        )
    return pd.DataFrame(rows)


def run_section(node_times: Mapping[str, float] | None, lineage: Any, m: Metrics | None = None) -> Section:
    """Where this run's time went (node by node), its speed targets, and which dataset versions it used."""
    import pandas as pd

    s = Section("6. The run: time per node, speed targets and lineage")
    times = dict(node_times or {})
    if times:
        table = pd.DataFrame(sorted(times.items(), key=lambda kv: -kv[1]), columns=["node", "seconds"])
        table["share"] = table["seconds"] / table["seconds"].sum()
        s.lines.append(
            f"<b>{fmt(table['seconds'].sum())}</b> s in {len(table)} nodes that ran before this report "
            "(node bodies, without loading and saving; MLflow <code>time/&lt;node&gt;</code>). A node "
            "missing here did not run: its outputs came from an earlier run (lineage below)."
        )
        s.tables.append(table)
    else:
        s.lines.append("No node ran before this report in this run (every input came from earlier runs).")
    s.lines.append(
        "Speed targets on a 2-core CPU (a stage that did not run in this run shows its stored figures; "
        "the pipeline sum counts only the nodes that ran). <code>benchmarks/</code> measures each ratio "
        "side by side in one process, and the pretraining node against a bare loop."
    )
    s.tables.append(speed_targets(times, m or {}))
    if lineage is not None and len(lineage):
        s.lines.append(
            "The newest version of each dataset in this environment's data folder, and the seed, "
            "environment, pipeline and MLflow run that made it."
        )
        s.tables.append(lineage)
    return s
