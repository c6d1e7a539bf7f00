"""Judges: turn `JudgeRequest`s into raw reply texts, which `parsing` reads the same way for every judge.

- `LLMJudge` renders the MT-Bench prompt (`prompts.render`) and asks any chat backend (the shared
  OpenAI-compatible client: GPT-4, vLLM, llama.cpp; or a local transformers model) at temperature 0.
  With `n_runs > 1` every request is asked again with `seed = run` in the request (so the on-disk cache
  keeps the runs apart and a rerun is still free); the caller takes the median rating, because judge
  scores drift between runs and versions (pin the judge model in parameters). A prompt too long for the
  judge's context window gets a "not judged" reply, which parses as a failure: excluded and counted,
  never a failed node.
- `VerifierJudge` is the offline judge of the embedded default: it grades a toy-world answer against its
  reference facts (`toy_world.verifier.score`, 1–10) and writes the verdict as an LLM judge would
  ("... Rating: [[7]]", "[[A]]"), so parsing and aggregation never know which judge ran. It has no
  position bias by construction; a pairwise verdict compares the two answers' scores.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from llm_lifecycle.judging.prompts import JudgeRequest, render

logger = logging.getLogger(__name__)

# What a judgment says when the judge could not be asked; it holds no rating, so it parses as a failure.
NOT_JUDGED = "Not judged: the judge refused the prompt ({reason})."


class Judge(Protocol):
    name: str
    n_runs: int

    def judge_many(self, requests: Sequence[JudgeRequest], run: int = 0) -> list[str]: ...


class LLMJudge:
    def __init__(self, backend: Any, n_runs: int = 1, max_tokens: int = 1024, name: str | None = None):
        self.backend = backend
        self.n_runs = n_runs
        self.max_tokens = max_tokens
        self.name = name or getattr(backend, "name", "llm")
        self._takes_seed = "seed" in inspect.signature(backend.replies).parameters

    def judge_many(self, requests: Sequence[JudgeRequest], run: int = 0) -> list[str]:
        conversations = [render(r) for r in requests]
        kwargs: dict[str, Any] = {"temperature": 0.0, "max_tokens": self.max_tokens}
        if run and self._takes_seed:
            kwargs["seed"] = run
        return [
            NOT_JUDGED.format(reason=reply.refused) if reply.refused else reply.text
            for reply in self.backend.replies(conversations, **kwargs)
        ]


class VerifierJudge:
    """The toy world's fact verifier as a judge (needs a reference for every judged turn)."""

    name = "verifier"

    def __init__(self, names: dict[str, str] | None = None, n_runs: int = 1):
        self.names = names
        self.n_runs = n_runs

    def _check(self, request: JudgeRequest, answers: Sequence[str]) -> Any:
        from llm_lifecycle.toy_world.verifier import check

        if not request.reference or len(request.reference) < request.turn or len(answers) < request.turn:
            return None
        return check(answers[request.turn - 1], request.reference[request.turn - 1], self.names)

    def judge_many(self, requests: Sequence[JudgeRequest], run: int = 0) -> list[str]:
        replies = []
        for r in requests:
            a = self._check(r, r.answers_a)
            if a is None:
                replies.append(
                    f"No reference answer for question {r.question_id} turn {r.turn}: cannot grade."
                )
            elif r.kind == "single":
                replies.append(f"Checked against the reference: {a.explain()}")  # "... -> [[7]]"
            else:
                b = self._check(r, r.answers_b or ())
                letter = "A" if a.score > b.score else "B" if b.score > a.score else "C"
                replies.append(
                    f"Assistant A scores {a.score} ({a.explain().rsplit(' -> ', 1)[0]}); assistant B scores "
                    f"{b.score} ({b.explain().rsplit(' -> ', 1)[0]}). Verdict: [[{letter}]]"
                )
        return replies
