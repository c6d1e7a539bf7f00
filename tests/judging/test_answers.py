"""MT-Bench answers: turn 2 follows the model's own turn 1, temperatures by category, bad questions named."""

from __future__ import annotations

import json

import pytest

from llm_lifecycle.datasets import JSONLinesDataset
from llm_lifecycle.judging.answers import InvalidQuestionError, generate_answers, validate_questions


class _Recorder:
    """A backend that answers "<model>:<question>" and records every call."""

    name = "rec"

    def __init__(self):
        self.calls = []

    def complete_many(self, conversations, *, temperature=None, max_tokens=None):
        self.calls.append(([list(c) for c in conversations], temperature, max_tokens))
        return [f"answer to {c[-1]['content']}" for c in conversations]


QS = [
    {"question_id": 1, "category": "writing", "turns": ["W1", "W2"]},
    {"question_id": 2, "category": "math", "turns": ["M1", "M2"], "reference": ["r1", "r2"]},
    {"question_id": 3, "category": "stem", "turns": ["S1"]},
]


def test_turn_two_is_asked_after_the_models_own_turn_one_answer():
    rec = _Recorder()
    rows = generate_answers(validate_questions(QS), rec, "sft", max_new_tokens=7)
    assert [(r["question_id"], r["turn"]) for r in rows] == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
    temps = {(r["question_id"], r["turn"]): r["temperature"] for r in rows}
    assert temps[(1, 1)] == 0.7 and temps[(2, 1)] == 0.0 and temps[(3, 1)] == 0.1  # MT-Bench's table
    turn2 = next(c for convs, t, _ in rec.calls for c in convs if c[-1]["content"] == "W2")
    assert turn2 == [
        {"role": "user", "content": "W1"},
        {"role": "assistant", "content": "answer to W1"},
        {"role": "user", "content": "W2"},
    ]
    assert all(m == 7 for *_, m in rec.calls)
    assert all(r["model"] == "sft" and r["answer"] == f"answer to {r['question']}" for r in rows)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"question_id": 3, "category": "math"}, "no turns"),
        ({"question_id": 3, "category": "math", "turns": []}, "no turns"),
        ({"question_id": 3, "category": "math", "turns": ["ok", ""]}, "non-empty string"),
        ({"question_id": 3, "turns": ["q"]}, "no category"),
        (
            {"question_id": 3, "category": "math", "turns": ["q"], "reference": "12"},
            "reference must be a list",
        ),
        ({"question_id": 1, "category": "math", "turns": ["q"]}, "duplicate question_id 1"),
    ],
)
def test_bad_question_is_named_by_file_and_line(tmp_path, bad, message):
    path = tmp_path / "question.jsonl"
    lines = [QS[0], QS[1], bad]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    loaded = JSONLinesDataset(str(path)).load()
    with pytest.raises(InvalidQuestionError) as err:
        validate_questions(loaded)
    assert f"{path}:3" in str(err.value) and message in str(err.value)


def test_question_without_turns_is_caught_by_the_catalog_entry_too(tmp_path):
    from llm_lifecycle.datasets.jsonl import BadRecordError

    path = tmp_path / "question.jsonl"
    path.write_text(json.dumps(QS[0]) + "\n" + json.dumps({"question_id": 5, "category": "math"}) + "\n")
    ds = JSONLinesDataset(
        str(path), load_args={"required_fields": {"question_id": "int", "category": "str", "turns": "list"}}
    )
    with pytest.raises(BadRecordError, match=rf"{path}:2: missing required field 'turns'"):
        ds.load()


def test_each_model_answers_in_its_own_node_and_the_base_gets_the_saiga_template(tiny_tokenizer):
    from llm_lifecycle.pipelines.mt_bench import create_pipeline
    from llm_lifecycle.pipelines.mt_bench.nodes import answer_as_base_model
    from llm_lifecycle.tokenization.chat_template import SAIGA_CHAT_TEMPLATE
    from tests.conftest import make_tiny_llama

    # one model loaded per node: Kedro releases it before the next node loads another
    models = {"base_model", "sft_model", "dpo_model", "rlhf_model"}
    answering = [n for n in create_pipeline().nodes if set(n.inputs) & models]
    assert len(answering) == 4 and all(len(set(n.inputs) & models) == 1 for n in answering)

    template = tiny_tokenizer.chat_template
    try:
        tiny_tokenizer.chat_template = None  # a hub base model's tokenizer (LLaMA-3-8B) has none
        question = {"question_id": 1, "category": "writing", "turns": ["Где Москва?", "А кошка?"]}
        params = {"models": ["base"], "pairs": [], "max_new_tokens": 3, "batch_size": 2}
        model = make_tiny_llama(tiny_tokenizer)
        rows = answer_as_base_model([question], model, tiny_tokenizer, False, params, 0)
        assert [r["turn"] for r in rows] == [1, 2] and tiny_tokenizer.chat_template == SAIGA_CHAT_TEMPLATE
    finally:
        tiny_tokenizer.chat_template = template
