"""Preference pairs: hygiene rules by hand, the offline teacher, and the pairing of two backends."""

from __future__ import annotations

import pytest

from llm_lifecycle.llm_clients import ChatReply
from llm_lifecycle.training.alignment.preferences import (
    PairHygieneSettings,
    ReferenceTeacher,
    build_pairs,
    check_pair,
    generate_pairs,
    pair_problem,
)

PROMPTS = [
    {
        "prompt_id": "p0",
        "lang": "ru",
        "category": "qa",
        "reference": "Дудор живёт в Велсами.",
        "messages": [{"role": "user", "content": "Где живёт Дудор?"}],
    },
    {
        "prompt_id": "p1",
        "lang": "en",
        "category": "math",
        "reference": "30 + 5 = 35.",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "30 + 5?"},
            {"role": "bot", "content": "35."},
            {"role": "human", "content": "Say it fully."},
        ],
    },
]


class _Echo:
    """A backend that answers from a fixed list (a `ChatReply` as it is, a string as a complete reply),
    counting calls and remembering the token budget it was given."""

    name = "student"

    def __init__(self, answers):
        self.answers, self.calls, self.max_tokens = list(answers), 0, []

    def replies(self, conversations, max_tokens=None):
        self.calls += 1
        self.max_tokens.append(max_tokens)
        assert len(conversations) == len(self.answers)
        return [a if isinstance(a, ChatReply) else ChatReply(a, finish_reason="stop") for a in self.answers]


@pytest.mark.parametrize(
    ("chosen", "rejected", "problem"),
    [
        ("A fine answer.", "  ", "empty"),
        ("Same  answer.", "Same answer. ", "identical"),
        ("12345678901", "12345", "length_ratio"),  # 11 / 5 = 2.2 > 2.08
        ("1234567890", "12345", None),  # 10 / 5 = 2.0 is kept
    ],
)
def test_pair_hygiene_rules(chosen, rejected, problem):
    assert pair_problem(chosen, rejected, PairHygieneSettings()) == problem


def test_length_ratio_can_be_switched_off():
    assert pair_problem("x" * 100, "y", PairHygieneSettings(max_length_ratio=None)) is None


def test_reference_teacher_answers_by_conversation_and_refuses_unknown_ones():
    teacher = ReferenceTeacher(PROMPTS)
    # Saiga `bot`/`human` and TRL `assistant`/`user` spellings are the same conversation.
    trl_style = [{"role": "user", "content": "Где живёт Дудор?"}]
    assert teacher.complete_many([trl_style]) == ["Дудор живёт в Велсами."]
    with pytest.raises(KeyError, match="no reference for conversation 0"):
        teacher.complete_many([[{"role": "user", "content": "unknown"}]])


def test_generate_pairs_keeps_order_counts_drops_and_writes_trl_format():
    student = _Echo(["Дудор живёт в Москве.", "30 + 5 = 35."])  # the second equals the reference
    pairs, report = generate_pairs(PROMPTS, ReferenceTeacher(PROMPTS), student, PairHygieneSettings())
    assert report == {
        "prompts": 2,
        "kept": 1,
        "dropped_empty": 0,
        "dropped_identical": 1,
        "dropped_length_ratio": 0,
        "dropped_prompt_too_long": 0,
        "dropped_chosen_cut_off": 0,
        "rejected_cut_off": 0,
    }
    (pair,) = pairs
    assert check_pair(pair) is None
    assert pair["prompt_id"] == "p0" and pair["teacher"] == "reference" and pair["student"] == "student"
    assert pair["chosen"][0]["content"] == "Дудор живёт в Велсами."
    assert pair["rejected"][0]["content"] == "Дудор живёт в Москве."
    assert student.calls == 1  # one batched call, not one per prompt


def test_prompts_must_end_on_a_user_turn():
    bad = [
        {"prompt_id": "x", "messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}
    ]
    with pytest.raises(ValueError, match=r"preference prompt 0 \(x\): must end on a user turn"):
        generate_pairs(bad, _Echo(["a"]), _Echo(["b"]), PairHygieneSettings())


def test_build_pairs_refuses_misaligned_answers():
    with pytest.raises(ValueError, match="2 prompts but 1 chosen"):
        build_pairs(PROMPTS, ["a"], ["b", "c"], PairHygieneSettings())


def test_refused_and_cut_off_teacher_answers_are_dropped_counted_and_never_sent_to_the_student():
    prompts = [{"prompt_id": f"p{i}", "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(4)]
    teacher = _Echo(
        [
            "A full answer.",
            ChatReply("", refused="too_long"),  # the prompt does not fit the teacher's context
            ChatReply("An answer that stops mid", finish_reason="length"),
            "Another full answer.",
        ]
    )
    teacher.name = "teacher"
    student = _Echo(["A wrong one.", ChatReply("A rejected answer that ran ou", finish_reason="length")])
    pairs, report = generate_pairs(prompts, teacher, student, PairHygieneSettings(), max_tokens=512)
    assert [p["prompt_id"] for p in pairs] == ["p0", "p3"]
    assert report["dropped_prompt_too_long"] == 1 and report["dropped_chosen_cut_off"] == 1
    assert report["rejected_cut_off"] == 1 and report["kept"] == 2 and report["prompts"] == 4
    # both sides get the same budget, so neither answer is longer by construction
    assert teacher.max_tokens == student.max_tokens == [512]


class _ByTemperature:
    """A student whose answer says the temperature it was asked at (None: its own)."""

    name = "student"

    def __init__(self):
        self.calls = []

    def replies(self, conversations, max_tokens=None, temperature=None):
        self.calls.append((len(conversations), temperature))
        return [ChatReply(f"at {temperature}", finish_reason="stop") for _ in conversations]


def test_the_student_samples_each_category_at_its_own_temperature():
    prompts = [
        {**PROMPTS[0], "prompt_id": f"p{i}", "category": category}
        for i, category in enumerate(["writing", "math", "writing", "qa"])
    ]
    for i, p in enumerate(prompts):  # distinct conversations, each with its reference
        p["messages"] = [{"role": "user", "content": f"Вопрос {i}?"}]
    student = _ByTemperature()
    pairs, _ = generate_pairs(
        prompts,
        ReferenceTeacher(prompts),
        student,
        PairHygieneSettings(max_length_ratio=None),
        temperatures={"writing": 0.7},
    )
    # one batch per temperature, answers back in prompt order
    assert sorted(student.calls, key=str) == sorted([(2, 0.7), (2, None)], key=str)
    assert [p["rejected"][0]["content"] for p in pairs] == ["at 0.7", "at None", "at 0.7", "at None"]
    assert [p["category"] for p in pairs] == ["writing", "math", "writing", "qa"]
