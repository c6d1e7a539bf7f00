"""Judge prompts in the MT-Bench protocol (Zheng et al. 2023, "Judging LLM-as-a-Judge"; FastChat llm_judge).

Four shapes, as in MT-Bench: single-answer grading and pairwise comparison, each for turn 1 (one
question, one answer) and for turn 2 (the whole two-turn conversation, judged on the second answer).
Categories that need a reference (math, reasoning, coding by default) get the reference answer(s) in the
prompt and an instruction to check correctness against it. The output contract is MT-Bench's: a 1–10
rating as `[[rating]]`, or a verdict `[[A]]`, `[[B]]` or `[[C]]` (tie), after a short explanation, so
that any MT-Bench-compatible judge (GPT-4, a vLLM server, a local model) can be swapped in. The wording
is ours; the structure and the output format follow FastChat's `judge_prompts.jsonl` (Apache-2.0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["single", "pair"]

_RATE = (
    "Start with a short explanation, be as objective as possible, then rate the response from 1 to 10 "
    'strictly in this format: "[[rating]]", for example "Rating: [[5]]".'
)
_PICK = (
    "Compare the two and explain briefly. Do not let the order of the answers, their length or the "
    "assistants' names sway you; be as objective as possible. Then give your final verdict strictly in "
    'this format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, "[[C]]" for a tie.'
)
_QUALITY = "helpfulness, relevance, accuracy, depth, creativity and level of detail"
_CORRECT = (
    "correctness and helpfulness. You are given a reference answer: compare the assistant's answer with "
    "it and point out any mistake"
)


@dataclass(frozen=True)
class JudgeRequest:
    """One judgment to make. `turn` is 1 or 2; lists are per turn (`questions[0]` is turn 1)."""

    kind: Kind
    question_id: int | str
    category: str
    turn: int
    questions: tuple[str, ...]
    answers_a: tuple[str, ...]
    answers_b: tuple[str, ...] | None = None  # pairwise only
    reference: tuple[str, ...] | None = None
    use_reference: bool = False  # put the reference in the prompt (MT-Bench: math, reasoning, coding)


def _block(title: str, text: str) -> str:
    return f"[The Start of {title}]\n{text}\n[The End of {title}]"


def _conversation(label: str, questions: tuple[str, ...], answers: tuple[str, ...], who: str) -> str:
    turns = "".join(
        f"### User:\n{q}\n\n### {who}:\n{a}\n\n" for q, a in zip(questions, answers, strict=False)
    )
    return f"<|The Start of {label}|>\n\n{turns}<|The End of {label}|>"


def render(request: JudgeRequest) -> list[dict[str, str]]:
    """The chat messages (system, user) that ask a judge for this request's rating or verdict."""
    r = request
    ref = r.reference if (r.use_reference and r.reference) else None
    focus = " Focus on the answer to the second user question." if r.turn == 2 else ""
    criteria = _CORRECT if ref else _QUALITY
    if r.kind == "single":
        system = (
            "Please act as an impartial judge and evaluate the quality of the response an AI assistant gave "
            f"to the user question below. Consider {criteria}.{focus} {_RATE}"
        )
        if r.turn == 1:
            parts = [f"[Question]\n{r.questions[0]}"]
            if ref:
                parts.append(_block("Reference Answer", ref[0]))
            parts.append(_block("Assistant's Answer", r.answers_a[0]))
        else:
            parts = (
                [_conversation("Reference Answer", r.questions[:2], ref[:2], "Reference answer")]
                if ref
                else []
            )
            parts.append(
                _conversation(
                    "Assistant A's Conversation with User", r.questions[:2], r.answers_a[:2], "Assistant A"
                )
            )
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]
    if r.answers_b is None:
        raise ValueError(f"pairwise request for question {r.question_id} has no answers_b")
    system = (
        "Please act as an impartial judge and evaluate the responses two AI assistants gave to the user "
        f"question(s) below, choosing the one that follows the instructions and answers better. Consider "
        f"{criteria}.{focus} {_PICK}"
    )
    if r.turn == 1:
        parts = [f"[User Question]\n{r.questions[0]}"]
        if ref:
            parts.append(_block("Reference Answer", ref[0]))
        parts += [
            _block("Assistant A's Answer", r.answers_a[0]),
            _block("Assistant B's Answer", r.answers_b[0]),
        ]
    else:
        parts = (
            [_conversation("Reference Answer", r.questions[:2], ref[:2], "Reference answer")] if ref else []
        )
        parts += [
            _conversation(
                "Assistant A's Conversation with User", r.questions[:2], r.answers_a[:2], "Assistant A"
            ),
            _conversation(
                "Assistant B's Conversation with User", r.questions[:2], r.answers_b[:2], "Assistant B"
            ),
        ]
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n\n".join(parts)}]
