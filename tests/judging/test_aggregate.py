"""Swap and tie rules, win rates worked out by hand, bootstrap CI on known cases, single-grade means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llm_lifecycle.judging.aggregate import (
    bootstrap_ci,
    combine_games,
    pairwise_summary,
    single_summary,
)
from llm_lifecycle.judging.evaluate import pair_outcomes


def _row(q, turn, game, verdict):
    a, b = ("dpo", "sft") if game == 1 else ("sft", "dpo")
    winner = {"A": a, "B": b, "tie": "tie", None: None}[verdict]
    return {
        "model_a": a,
        "model_b": b,
        "question_id": q,
        "category": "qa",
        "turn": turn,
        "game": game,
        "raw": f"[[{verdict}]]",
        "verdict": verdict,
        "winner": winner,
        "run": 0,
    }


# (game 1 verdict, game 2 verdict) as the judge saw the positions -> expected outcome for dpo vs sft
TABLE = [
    ("A", "B", "dpo"),  # dpo first and wins; swapped, dpo (now B) wins again: consistent win
    ("A", "B", "dpo"),
    ("B", "A", "sft"),  # consistent loss
    ("A", "A", "tie"),  # position bias (A both times): inconsistent -> tie
    ("tie", "B", "tie"),  # game 1 tie -> tie (inconsistent too: game 2 says dpo)
    ("tie", "tie", "tie"),  # consistent tie
    ("B", "tie", "tie"),  # inconsistent -> tie
    (None, "B", None),  # unparsed game: left out
]


def test_swap_and_tie_rules_on_a_hand_built_table():
    rows = []
    for q, (g1, g2, _) in enumerate(TABLE):
        rows += [_row(q, 1, 1, g1), _row(q, 1, 2, g2)]
    outcomes, n_unparsed = pair_outcomes(rows, ("dpo", "sft"))
    assert [o.outcome for o in outcomes] == [e for *_, e in TABLE if e is not None]
    assert n_unparsed == 1
    s = pairwise_summary(outcomes, "dpo", "sft", n_unparsed=n_unparsed, n_boot=500, seed=0)
    # by hand: 7 judged pairs: 2 wins, 1 loss, 4 ties
    assert (s["wins"], s["losses"], s["ties"], s["total"]) == (2, 1, 4, 7)
    assert s["win_rate"] == pytest.approx(2 / 7)
    assert s["adjusted_win_rate"] == pytest.approx((2 + 0.5 * 4) / 7)  # 4/7
    # inconsistent: (A,A), (tie,B), (B,tie) = 3 of 7
    assert s["position_inconsistency"] == pytest.approx(3 / 7)
    assert s["ci_low"] <= s["adjusted_win_rate"] <= s["ci_high"] and s["n_unparsed"] == 1


def test_combine_games():
    assert combine_games("dpo", "dpo") == ("dpo", False)
    assert combine_games("dpo", "sft") == ("tie", True)
    assert combine_games("tie", "tie") == ("tie", False)
    assert combine_games("tie", "dpo") == ("tie", True)


def test_judge_runs_are_combined_by_median_vote():
    rows = [_row(0, 1, 1, v) | {"run": r} for r, v in enumerate(["A", "A", "B"])]  # 2 of 3 runs: dpo
    rows += [_row(0, 1, 2, v) | {"run": r} for r, v in enumerate(["B", "B", "B"])]
    (outcome,), _ = pair_outcomes(rows, ("dpo", "sft"))
    assert outcome.outcome == "dpo"


def test_bootstrap_ci_on_known_cases():
    assert bootstrap_ci([1.0] * 30) == (1.0, 1.0)  # no variation, no interval
    lo, hi = bootstrap_ci([0.5] * 10)
    assert lo == hi == 0.5
    # Bernoulli(0.5), n = 400: the mean's standard error is 0.025, so the 95% CI is about ±0.049
    values = [1.0, 0.0] * 200
    lo, hi = bootstrap_ci(values, n_boot=4000, seed=1)
    assert lo == pytest.approx(0.5 - 1.96 * 0.025, abs=0.01) and hi == pytest.approx(
        0.5 + 1.96 * 0.025, abs=0.01
    )
    assert bootstrap_ci(values, n_boot=4000, seed=1) == (lo, hi)  # seeded
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    # a 70/30 split: the interval excludes 0.5
    lo, hi = bootstrap_ci([1.0] * 70 + [0.0] * 30, seed=2)
    assert 0.5 < lo < 0.7 < hi < 0.8
    assert np.isclose((lo + hi) / 2, 0.7, atol=0.02)


def test_single_summary_excludes_unparsed_and_reports_the_failure_rate():
    rows = [
        {"model": "sft", "question_id": 1, "category": "math", "turn": 1, "score": 8.0},
        {"model": "sft", "question_id": 1, "category": "math", "turn": 2, "score": None},  # unparsed
        {"model": "sft", "question_id": 2, "category": "writing", "turn": 1, "score": 4.0},
        {"model": "sft", "question_id": 2, "category": "writing", "turn": 2, "score": 6.0},
        {"model": "base", "question_id": 1, "category": "math", "turn": 1, "score": 2.0},
    ]
    table, m = single_summary(rows)
    assert m["mt_bench/parse_failure_rate"] == pytest.approx(1 / 5)
    assert m["mt_bench/sft/score"] == pytest.approx((8 + 4 + 6) / 3)
    assert m["mt_bench/sft/turn1"] == pytest.approx(6.0) and m["mt_bench/sft/turn2"] == pytest.approx(6.0)
    assert m["mt_bench/sft/math"] == pytest.approx(8.0) and m["mt_bench/sft/n_parse_failures"] == 1
    assert m["mt_bench/base/score"] == 2.0 and "mt_bench/base/turn2" not in m
    math_t2 = next(r for r in table if r["model"] == "sft" and r["category"] == "math" and r["turn"] == 2)
    assert math_t2["mean_score"] is None and math_t2["n"] == 0


def test_several_runs_use_the_median_score():
    rows = [
        {"model": "sft", "question_id": 1, "category": "math", "turn": 1, "score": s} for s in (3.0, 9.0, 8.0)
    ]
    _, m = single_summary(rows)
    assert m["mt_bench/sft/score"] == 8.0
