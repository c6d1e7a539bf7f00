"""Report node: assembles `llm_lifecycle.reporting.report_card` sections from the run's catalog entries."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

logger = logging.getLogger(__name__)


def build_report_card(  # noqa: PLR0917 - Kedro passes the catalog entries by name
    funnel: Any = None,
    tokenizer_stats: Any = None,
    pretraining_log: Any = None,
    reward_pairs: Any = None,
    mt_bench_scores: Any = None,
    mt_bench_winrates: Any = None,
    roofline: Any = None,
    ceilings: dict[str, Any] | None = None,
    node_times: dict[str, float] | None = None,
    lineage: Any = None,
    plan: Any = None,
    plan_article: Any = None,
    **stage_metrics: dict[str, Any],
) -> str:
    """The report card (self-contained HTML). `stage_metrics`: the stages' metric dicts (MLflow keys)."""
    from llm_lifecycle.gitinfo import git_output
    from llm_lifecycle.reporting import report_card as rc

    metrics = rc.last_values(*stage_metrics.values())
    sections = [
        rc.data_section(funnel, tokenizer_stats, metrics),
        rc.pretraining_section(pretraining_log, metrics),
        rc.alignment_section(metrics, reward_pairs, mt_bench_scores),
        rc.mt_bench_section(mt_bench_scores, mt_bench_winrates),
        rc.latency_section(roofline, ceilings),
        rc.run_section(node_times, lineage, metrics),
        rc.plan_section(plan, plan_article, metrics),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = git_output("rev-parse", "--short", "HEAD") or "unknown"
    page = rc.render_html("LLM lifecycle: report card", f"git {commit} · {stamp}", sections)
    logger.info("report card: %d sections, %d metrics, %.0f kB", len(sections), len(metrics), len(page) / 1e3)
    return page
