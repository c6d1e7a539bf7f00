"""From parsed judgments to MT-Bench's numbers: mean scores, pairwise win rates (position swap), bootstrap CI.

Single grading: a judgment that did not parse has `score = None`; it stays in the table (with its raw
text) but not in any mean, and `parse_failure_rate` counts it. With several judge runs the per-answer
score is the median of the runs that parsed.

Pairwise (MT-Bench's rule): every (question, turn) is judged twice, game 1 with model X as assistant A
and game 2 with the positions swapped. Each verdict is mapped back to a model ("X", "Y" or "tie"). If the
two games disagree, or game 1 is a tie, the pair counts as a tie; otherwise the agreed model wins.
`win_rate = wins / total`, `adjusted_win_rate = (wins + 0.5 · ties) / total`, and
`position_inconsistency = share of pairs whose two games disagree`. A pair where either game did not
parse is left out and counted. The 95% confidence interval of the adjusted win rate is a percentile
bootstrap over (question, turn) pairs (resampled with replacement, `n_boot` times, seeded).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def median_scores(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Collapse judge runs: one row per (model, question_id, turn) with the median parsed score."""
    groups: dict[tuple, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["model"], row["question_id"], row["turn"])].append(row)
    out = []
    for runs in groups.values():
        parsed = [r["score"] for r in runs if r["score"] is not None]
        out.append({**runs[0], "score": statistics.median(parsed) if parsed else None, "n_runs": len(runs)})
    return out


def single_summary(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """(per model × category × turn table, metrics) from single-grading rows (all runs).

    Metrics: `mt_bench/<model>/score` (all turns), `.../turn1`, `.../turn2`, `.../<category>`,
    `mt_bench/parse_failure_rate` (over every judge reply) and `mt_bench/<model>/n_parse_failures`.
    """
    metrics: dict[str, float] = {}
    n_fail = sum(r["score"] is None for r in rows)
    metrics["mt_bench/parse_failure_rate"] = n_fail / len(rows) if rows else 0.0
    collapsed = median_scores(rows)
    table = []
    by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in collapsed:
        by_model[row["model"]].append(row)
    for model, mrows in by_model.items():
        scored = [r for r in mrows if r["score"] is not None]
        metrics[f"mt_bench/{model}/n_parse_failures"] = float(len(mrows) - len(scored))
        if scored:
            metrics[f"mt_bench/{model}/score"] = statistics.fmean(r["score"] for r in scored)
        for turn in (1, 2):
            t = [r["score"] for r in scored if r["turn"] == turn]
            if t:
                metrics[f"mt_bench/{model}/turn{turn}"] = statistics.fmean(t)
        for category in sorted({r["category"] for r in mrows}):
            c = [r for r in scored if r["category"] == category]
            if c:
                metrics[f"mt_bench/{model}/{category}"] = statistics.fmean(r["score"] for r in c)
            for turn in (1, 2):
                ct = [r["score"] for r in c if r["turn"] == turn]
                table.append(
                    {
                        "model": model,
                        "category": category,
                        "turn": turn,
                        "mean_score": statistics.fmean(ct) if ct else None,
                        "n": len(ct),
                    }
                )
    return table, metrics


@dataclass(frozen=True)
class PairOutcome:
    question_id: Any
    category: str
    turn: int
    game1: str  # winner in game 1 mapped to a model name, or "tie"
    game2: str
    outcome: str  # model name or "tie" after the swap rule
    inconsistent: bool


def combine_games(game1: str, game2: str) -> tuple[str, bool]:
    """MT-Bench's rule on two verdicts already mapped to model names (or "tie")."""
    inconsistent = game1 != game2
    if inconsistent or game1 == "tie":
        return "tie", inconsistent
    return game1, False


def verdict_to_model(verdict: str | None, model_a: str, model_b: str) -> str | None:
    """ "A"/"B"/"tie" as shown to the judge -> the model it names (None stays None: unparsed)."""
    return {"A": model_a, "B": model_b, "tie": "tie"}.get(verdict) if verdict is not None else None


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (each value: 1 win, 0.5 tie, 0 loss).

    Kept instead of `scipy.stats.bootstrap`: its default BCa interval is NaN when every game is a tie
    (common on the toy world), and its percentile method draws other resamples, so every logged interval
    would move; four lines of numpy keep the runs' numbers comparable."""
    if not len(values):
        return float("nan"), float("nan")
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(n_boot, len(data)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def pairwise_summary(
    outcomes: Sequence[PairOutcome],
    model: str,
    other: str,
    *,
    n_unparsed: int = 0,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Wins/losses/ties of `model` against `other`, win rates, bootstrap CI, position inconsistency."""
    wins = sum(o.outcome == model for o in outcomes)
    losses = sum(o.outcome == other for o in outcomes)
    ties = sum(o.outcome == "tie" for o in outcomes)
    total = len(outcomes)
    points = [1.0 if o.outcome == model else 0.0 if o.outcome == other else 0.5 for o in outcomes]
    low, high = bootstrap_ci(points, n_boot=n_boot, seed=seed)
    return {
        "wins": float(wins),
        "losses": float(losses),
        "ties": float(ties),
        "total": float(total),
        "win_rate": wins / total if total else float("nan"),
        "adjusted_win_rate": (wins + 0.5 * ties) / total if total else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "position_inconsistency": sum(o.inconsistent for o in outcomes) / total if total else float("nan"),
        "n_unparsed": float(n_unparsed),
    }
