"""Build the judge requests from questions and answers, ask the judge, parse: the rows of the judgment tables.

`judge_single` grades every (model, question, turn); `judge_pairwise` plays every (question, turn) of a
model pair twice with the positions swapped. Both return one row per judge reply with the raw text, so
a surprising score can always be read back; `aggregate` turns the rows into numbers.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from llm_lifecycle.judging.aggregate import PairOutcome, combine_games, verdict_to_model
from llm_lifecycle.judging.judges import Judge
from llm_lifecycle.judging.parsing import parse_rating, parse_verdict
from llm_lifecycle.judging.prompts import JudgeRequest

logger = logging.getLogger(__name__)

REFERENCE_CATEGORIES = ("math", "reasoning", "coding")  # MT-Bench's NEED_REF_CATS


def answers_by_model(answers: Sequence[Mapping[str, Any]]) -> dict[str, dict[Any, tuple[str, ...]]]:
    """`{model: {question_id: (answer turn 1, answer turn 2, ...)}}`."""
    turns: dict[str, dict[Any, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    for row in answers:
        turns[row["model"]][row["question_id"]][int(row["turn"])] = str(row["answer"])
    return {m: {q: tuple(t[k] for k in sorted(t)) for q, t in qs.items()} for m, qs in turns.items()}


def _request(
    q: Mapping[str, Any], turn: int, a: tuple[str, ...], b: tuple[str, ...] | None, ref_cats
) -> JudgeRequest:
    reference = tuple(q["reference"]) if q.get("reference") else None
    return JudgeRequest(
        kind="single" if b is None else "pair",
        question_id=q["question_id"],
        category=q["category"],
        turn=turn,
        questions=tuple(q["turns"]),
        answers_a=a,
        answers_b=b,
        reference=reference,
        use_reference=q["category"] in ref_cats,
    )


def _missing(model: str, table: Mapping[str, Mapping[Any, tuple[str, ...]]], q: Mapping[str, Any]) -> None:
    answers = table[model].get(q["question_id"], ())
    if len(answers) < len(q["turns"]):
        raise ValueError(
            f"mt_bench_answers: model {model!r} has no answer to every turn of question {q['question_id']!r}"
        )


def judge_single(
    questions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
    judge: Judge,
    models: Sequence[str],
    reference_categories: Sequence[str] = REFERENCE_CATEGORIES,
) -> list[dict[str, Any]]:
    """Rows `{model, question_id, category, turn, judge, run, raw, score}` (score None: did not parse)."""
    table = answers_by_model(answers)
    requests, meta = [], []
    for model in models:
        if model not in table:
            raise ValueError(f"mt_bench_answers has no answers of model {model!r} (has {sorted(table)})")
        for q in questions:
            _missing(model, table, q)
            for turn in range(1, len(q["turns"]) + 1):
                requests.append(_request(q, turn, table[model][q["question_id"]], None, reference_categories))
                meta.append(
                    {"model": model, "question_id": q["question_id"], "category": q["category"], "turn": turn}
                )
    rows = []
    for run in range(judge.n_runs):
        for m, reply in zip(meta, judge.judge_many(requests, run), strict=True):
            rows.append({**m, "judge": judge.name, "run": run, "raw": reply, "score": parse_rating(reply)})
    n_fail = sum(r["score"] is None for r in rows)
    if n_fail:
        logger.warning(
            "single grading: %d of %d judge replies did not parse (kept with their text)", n_fail, len(rows)
        )
    return rows


def judge_pairwise(
    questions: Sequence[Mapping[str, Any]],
    answers: Sequence[Mapping[str, Any]],
    judge: Judge,
    pair: tuple[str, str],
    reference_categories: Sequence[str] = REFERENCE_CATEGORIES,
) -> list[dict[str, Any]]:
    """Reply rows `{model_a, model_b, question_id, category, turn, game, judge, run, raw, verdict, winner}`
    for `pair = (model, other)`: game 1 shows `model` as assistant A, game 2 as assistant B."""
    x, y = pair
    table = answers_by_model(answers)
    for model in pair:
        if model not in table:
            raise ValueError(f"mt_bench_answers has no answers of model {model!r} (has {sorted(table)})")
    requests, meta = [], []
    for q in questions:
        _missing(x, table, q)
        _missing(y, table, q)
        ax, ay = table[x][q["question_id"]], table[y][q["question_id"]]
        for turn in range(1, len(q["turns"]) + 1):
            for game, (a, b, name_a, name_b) in enumerate(((ax, ay, x, y), (ay, ax, y, x)), start=1):
                requests.append(_request(q, turn, a, b, reference_categories))
                meta.append(
                    {
                        "model_a": name_a,
                        "model_b": name_b,
                        "question_id": q["question_id"],
                        "category": q["category"],
                        "turn": turn,
                        "game": game,
                    }
                )
    rows = []
    for run in range(judge.n_runs):
        for m, reply in zip(meta, judge.judge_many(requests, run), strict=True):
            verdict = parse_verdict(reply)
            winner = verdict_to_model(verdict, m["model_a"], m["model_b"])
            rows.append(
                {**m, "judge": judge.name, "run": run, "raw": reply, "verdict": verdict, "winner": winner}
            )
    return rows


def pair_outcomes(rows: Sequence[Mapping[str, Any]], pair: tuple[str, str]) -> tuple[list[PairOutcome], int]:
    """(combined outcomes, number of pairs left out as unparsed) from `judge_pairwise` rows of `pair`.

    With several judge runs, each game's verdict is the median of the runs' (+1 model, 0 tie, -1 other)
    votes; a (question, turn) is left out only when a game has no parsed verdict in any run.
    """
    x, y = pair
    rows = [r for r in rows if {r["model_a"], r["model_b"]} == {x, y}]
    votes: dict[tuple, list[int]] = defaultdict(list)
    keys: dict[tuple, Mapping[str, Any]] = {}
    unparsed: set[tuple] = set()
    for r in rows:
        key = (r["question_id"], r["turn"])
        keys[key] = r
        if r["winner"] is None:
            unparsed.add(key)
            continue
        game = 1 if r["model_a"] == x else 2  # rows of a stored table: the game follows the positions
        votes[(*key, game)].append(1 if r["winner"] == x else -1 if r["winner"] == y else 0)
    outcomes = []
    for key, r in keys.items():
        if key in unparsed and not all(votes.get((*key, g)) for g in (1, 2)):
            continue
        games = []
        for g in (1, 2):
            v = statistics.median(votes[(*key, g)])
            games.append(x if v > 0 else y if v < 0 else "tie")
        outcome, inconsistent = combine_games(*games)
        outcomes.append(
            PairOutcome(r["question_id"], r["category"], r["turn"], games[0], games[1], outcome, inconsistent)
        )
    n_unparsed = len(keys) - len(outcomes)
    if n_unparsed:
        logger.warning(
            "pairwise %s vs %s: %d of %d pairs left out (a verdict did not parse)",
            x,
            y,
            n_unparsed,
            len(keys),
        )
    return outcomes, n_unparsed
