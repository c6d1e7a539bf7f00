"""MT-Bench answers: each question's turns asked in one conversation, temperature by category.

Turn 2 is asked after the model's *own* turn-1 answer (not a reference), as in FastChat's
`gen_model_answer.py`; temperatures follow MT-Bench (writing/roleplay 0.7; extraction, math, coding,
reasoning 0 = greedy; stem/humanities 0.1). Questions are batched by temperature and turn, so a local
model generates in padded batches; sampling is seeded. One output row per model × question × turn.
Questions are validated first: a record without a non-empty `turns` list of strings, without a
`category`, or with a `reference` that is not a list stops the run naming `file:line`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from llm_lifecycle.datasets.jsonl import where

# MT-Bench's temperature_config (FastChat llm_judge/common.py)
CATEGORY_TEMPERATURE: dict[str, float] = {
    "writing": 0.7,
    "roleplay": 0.7,
    "extraction": 0.0,
    "math": 0.0,
    "coding": 0.0,
    "reasoning": 0.0,
    "stem": 0.1,
    "humanities": 0.1,
}
DEFAULT_TEMPERATURE = 0.7  # a category MT-Bench does not list


class InvalidQuestionError(ValueError):
    """An MT-Bench question that cannot be asked; the message names file:line and the problem."""


def validate_questions(questions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Check every question; return them as plain dicts (turns and reference as lists)."""
    out, seen = [], set()
    for i, q in enumerate(questions):
        problem = None
        turns = q.get("turns")
        if not isinstance(turns, list) or not turns:
            problem = "no turns (need a non-empty list of question strings)"
        elif not all(isinstance(t, str) and t.strip() for t in turns):
            problem = "every turn must be a non-empty string"
        elif not isinstance(q.get("category"), str) or not q["category"]:
            problem = "no category"
        elif q.get("reference") is not None and not isinstance(q["reference"], list):
            problem = f"reference must be a list (one per turn), got {type(q['reference']).__name__}"
        elif q.get("question_id") in seen:
            problem = f"duplicate question_id {q.get('question_id')!r}"
        if problem:
            raise InvalidQuestionError(
                f"{where(questions, i)}: MT-Bench question {q.get('question_id')!r}: {problem}"
            )
        seen.add(q.get("question_id"))
        out.append(dict(q))
    if not out:
        raise InvalidQuestionError("no MT-Bench questions to ask")
    return out


def generate_answers(
    questions: Sequence[Mapping[str, Any]],
    backend: Any,
    model_name: str,
    temperatures: Mapping[str, float] | None = None,
    max_new_tokens: int = 1024,
) -> list[dict[str, Any]]:
    """Rows `{model, question_id, category, turn, question, answer, temperature}` for every turn.

    `backend.complete_many(conversations, temperature=, max_tokens=)` answers a batch (e.g.
    `llm_clients.HFChatBackend`).
    """
    temps = {**CATEGORY_TEMPERATURE, **(temperatures or {})}
    conversations: dict[Any, list[dict[str, str]]] = {q["question_id"]: [] for q in questions}
    rows = []
    n_turns = max(len(q["turns"]) for q in questions)
    for turn in range(1, n_turns + 1):
        by_temperature: dict[float, list[Mapping[str, Any]]] = defaultdict(list)
        for q in questions:
            if len(q["turns"]) >= turn:
                by_temperature[temps.get(q["category"], DEFAULT_TEMPERATURE)].append(q)
        for temperature, group in sorted(by_temperature.items()):
            for q in group:
                conversations[q["question_id"]].append({"role": "user", "content": q["turns"][turn - 1]})
            replies = backend.complete_many(
                [conversations[q["question_id"]] for q in group],
                temperature=temperature,
                max_tokens=max_new_tokens,
            )
            for q, reply in zip(group, replies, strict=True):
                conversations[q["question_id"]].append({"role": "assistant", "content": reply})
                rows.append(
                    {
                        "model": model_name,
                        "question_id": q["question_id"],
                        "category": q["category"],
                        "turn": turn,
                        "question": q["turns"][turn - 1],
                        "answer": reply,
                        "temperature": temperature,
                    }
                )
    order = {q["question_id"]: i for i, q in enumerate(questions)}
    rows.sort(key=lambda r: (order[r["question_id"]], r["turn"]))
    return rows
