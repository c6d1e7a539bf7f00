"""Synthetic preference pairs: a strong teacher writes the chosen answer, the SFT model the rejected one.

Design (as Saiga's DPO data was built): for every prompt (a Saiga
conversation ending on a user turn) two answers are produced by two `ChatBackend`s, both answering the
same conversations in the same order:

- the teacher (`chosen`): an OpenAI-compatible server (GPT-4, vLLM, llama.cpp) at real scale, or, on the
  embedded toy world, `ReferenceTeacher`, which answers with the prompt's known correct answer;
- the student (`rejected`): the SFT model itself, sampled (temperature/top-p from parameters), i.e. what
  the policy currently does. DPO then moves probability from the student's habits to the teacher's.
  With `temperatures` ({category: temperature}) a prompt with a `category` is answered at its own
  temperature, e.g. MT-Bench's, so the rejected answers are sampled the way the evaluation samples.

Pair hygiene (counts of each drop are reported as metrics, nothing is dropped silently):
- `prompt_too_long`: the teacher refused the prompt as too long for its context window (asked once:
  the refusal is cached like an answer);
- `chosen_cut_off`: the teacher's answer stopped at `max_tokens` (`finish_reason: length`), a truncated
  answer is not a better one. Both answers get the same token budget (the student's
  `max_new_tokens`), so neither side is longer by construction; a rejected answer that ran out of
  budget is kept (it is what the policy does) and counted as `rejected_cut_off`;
- `empty`: either answer is empty after stripping;
- `identical`: chosen == rejected after whitespace normalisation: no preference signal;
- `length_ratio`: max(len)/min(len) in characters above `max_length_ratio` (Saiga used 2.08): DPO is
  known to learn "longer is better" from such pairs (length exploitation, Park et al. 2024).

Output: TRL's conversational preference format `{"prompt": [...], "chosen": [{"role": "assistant", ...}],
"rejected": [...]}` plus `prompt_id`, `lang`, `category` and both backends' names for traceability
(`preference_pair` builds one, `check_pair`/`validate_pairs` check them for DPO and the reward model).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.chat_format import ROLES, ChatBackend, ChatReply, normalise_messages

logger = logging.getLogger(__name__)


class PairHygieneSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_length_ratio: float | None = Field(2.08, gt=1, description="None: keep any length ratio")
    drop_identical: bool = True
    drop_cut_off_chosen: bool = Field(True, description="drop pairs whose teacher answer hit max_tokens")


def conversation_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """Canonical JSON of a conversation with normalised roles: the same prompt maps to the same key."""
    return json.dumps(normalise_messages(messages), ensure_ascii=False, sort_keys=True)


class ReferenceTeacher:
    """Offline teacher for the toy world: answers each prompt with its known correct answer (`reference`).

    It refuses a conversation it has no reference for rather than inventing an answer.
    """

    name = "reference"

    def __init__(self, prompts: Sequence[Mapping[str, Any]], field: str = "reference"):
        self._answers = {conversation_key(p["messages"]): str(p[field]) for p in prompts if field in p}

    def complete_many(self, conversations: Sequence[Sequence[Mapping[str, str]]], **_: Any) -> list[str]:
        out = []
        for i, conv in enumerate(conversations):
            key = conversation_key(conv)
            if key not in self._answers:
                raise KeyError(f"reference teacher: no reference for conversation {i} ({key[:120]}...)")
            out.append(self._answers[key])
        return out

    def replies(self, conversations: Sequence[Sequence[Mapping[str, str]]], **_: Any) -> list[ChatReply]:
        """The references as complete replies (a reference is never cut off)."""
        return [ChatReply(text, finish_reason="stop") for text in self.complete_many(conversations)]


def _normalised(text: str) -> str:
    return " ".join(text.split())


def pair_problem(chosen: str, rejected: str, cfg: PairHygieneSettings) -> str | None:
    """Why a (chosen, rejected) pair is dropped, or None to keep it."""
    if not chosen.strip() or not rejected.strip():
        return "empty"
    if cfg.drop_identical and _normalised(chosen) == _normalised(rejected):
        return "identical"
    if cfg.max_length_ratio is not None:
        a, b = len(chosen.strip()), len(rejected.strip())
        if max(a, b) / min(a, b) > cfg.max_length_ratio:
            return "length_ratio"
    return None


def build_pairs(
    prompts: Sequence[Mapping[str, Any]],
    chosen: Sequence[str],
    rejected: Sequence[str],
    cfg: PairHygieneSettings,
    *,
    teacher: str = "",
    student: str = "",
) -> tuple[list[dict], dict[str, int]]:
    """Pairs in TRL's conversational format and counts: prompts, kept, dropped_<reason>."""
    if not len(prompts) == len(chosen) == len(rejected):
        raise ValueError(
            f"{len(prompts)} prompts but {len(chosen)} chosen and {len(rejected)} rejected answers"
        )
    pairs, dropped = [], Counter()
    for prompt, good, bad in zip(prompts, chosen, rejected, strict=True):
        problem = pair_problem(good, bad, cfg)
        if problem is not None:
            dropped[problem] += 1
            continue
        pairs.append(
            preference_pair(
                prompt["messages"],
                good.strip(),
                bad.strip(),
                prompt_id=str(prompt.get("prompt_id", "")),
                lang=str(prompt.get("lang", "")),
                category=str(prompt.get("category", "")),
                teacher=teacher,
                student=student,
            )
        )
    report = {"prompts": len(prompts), "kept": len(pairs)}
    report |= {
        f"dropped_{reason}": dropped.get(reason, 0) for reason in ("empty", "identical", "length_ratio")
    }
    if dropped:
        logger.warning("preference pairs: dropped %s of %d", dict(dropped), len(prompts))
    return pairs, report


def generate_pairs(
    prompts: Sequence[Mapping[str, Any]],
    teacher: ChatBackend,
    student: ChatBackend,
    cfg: PairHygieneSettings,
    max_tokens: int | None = None,
    *,
    temperatures: Mapping[str, float] | None = None,
) -> tuple[list[dict], dict[str, int]]:
    """Ask the teacher, then the student on the prompts the teacher answered in full; apply the hygiene
    rules. Both are given the same `max_tokens`; the student samples a prompt whose `category` is in
    `temperatures` at that temperature (the rest at its own)."""
    for i, p in enumerate(prompts):
        messages = normalise_messages(p.get("messages") or [])
        if not messages or messages[-1]["role"] != "user":
            raise ValueError(f"preference prompt {i} ({p.get('prompt_id', '?')}): must end on a user turn")
    conversations = [normalise_messages(p["messages"]) for p in prompts]
    logger.info(
        "preference pairs: %d prompts, teacher %s, student %s", len(prompts), teacher.name, student.name
    )
    chosen = teacher.replies(conversations, max_tokens=max_tokens)
    too_long = [r.refused is not None for r in chosen]
    cut_off = [r.refused is None and r.cut_off and cfg.drop_cut_off_chosen for r in chosen]
    keep = [i for i in range(len(prompts)) if not (too_long[i] or cut_off[i])]
    if len(keep) < len(prompts):
        logger.warning(
            "preference pairs: the teacher refused %d prompts as too long and cut off %d answers",
            sum(too_long),
            sum(cut_off),
        )
    rejected = _student_replies(
        student, [prompts[i] for i in keep], [conversations[i] for i in keep], max_tokens, temperatures or {}
    )
    pairs, report = build_pairs(
        [prompts[i] for i in keep],
        [chosen[i].text for i in keep],
        [r.text for r in rejected],
        cfg,
        teacher=teacher.name,
        student=student.name,
    )
    report |= {
        "prompts": len(prompts),
        "dropped_prompt_too_long": sum(too_long),
        "dropped_chosen_cut_off": sum(cut_off),
        "rejected_cut_off": sum(r.cut_off for r in rejected),
    }
    return pairs, report


def _student_replies(
    student: ChatBackend,
    prompts: Sequence[Mapping[str, Any]],
    conversations: Sequence[Sequence[Mapping[str, str]]],
    max_tokens: int | None,
    temperatures: Mapping[str, float],
) -> list[ChatReply]:
    """The student's replies in prompt order, one batch per temperature (None: the student's own)."""
    groups: dict[float | None, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(temperatures.get(str(p.get("category", ""))), []).append(i)
    replies: list[ChatReply | None] = [None] * len(prompts)
    for temperature, idx in groups.items():
        kwargs: dict[str, Any] = {"max_tokens": max_tokens}
        if temperature is not None:
            kwargs["temperature"] = temperature
        for i, reply in zip(idx, student.replies([conversations[i] for i in idx], **kwargs), strict=True):
            replies[i] = reply
    return [r for r in replies if r is not None]


def preference_pair(messages: Sequence[Mapping[str, Any]], chosen: str, rejected: str, **extra: Any) -> dict:
    """A TRL conversational preference example from a Saiga prompt (ending on a user turn) and two answers."""
    prompt = normalise_messages(messages)
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        **extra,
    }


def check_pair(pair: Mapping[str, Any]) -> str | None:  # noqa: PLR0911
    """The problem with one preference example, or None."""
    prompt = pair.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        return "empty prompt"
    if any(not isinstance(m, Mapping) or not isinstance(m.get("content"), str) for m in prompt):
        return "a prompt message is not an object with string 'content'"
    if any(m.get("role") not in ROLES for m in prompt):
        return "a prompt message has an unknown role"
    if ROLES[prompt[-1]["role"]] != "user":
        return "the prompt does not end on a user turn"
    for key in ("chosen", "rejected"):
        answer = pair.get(key)
        if (
            not isinstance(answer, list)
            or len(answer) != 1
            or not isinstance(answer[0], Mapping)
            or answer[0].get("role") != "assistant"
            or not str(answer[0].get("content", "")).strip()
        ):
            return f"{key!r} must be one non-empty assistant message"
    if pair["chosen"][0]["content"] == pair["rejected"][0]["content"]:
        return "chosen and rejected are identical"
    return None


def validate_pairs(pairs: Sequence[Mapping[str, Any]], name: str) -> list[dict]:
    """The pairs in TRL's format, roles normalised; the first bad one raises naming `name` and its index."""
    out = []
    for i, pair in enumerate(pairs):
        problem = check_pair(pair)
        if problem:
            raise ValueError(f"{name} pair {i}: {problem}")
        out.append(
            {
                "prompt": normalise_messages(pair["prompt"]),
                "chosen": list(pair["chosen"]),
                "rejected": list(pair["rejected"]),
            }
        )
    return out
