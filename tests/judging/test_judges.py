"""Judges: the OpenAI-compatible judge vs a local fake server with faults, the verifier, a local HF judge."""

from __future__ import annotations

from llm_lifecycle.judging.evaluate import judge_pairwise, judge_single, pair_outcomes
from llm_lifecycle.judging.judges import LLMJudge, VerifierJudge
from llm_lifecycle.judging.prompts import JudgeRequest, render
from llm_lifecycle.llm_clients import OpenAICompatClient
from tests.fake_openai import API_KEY, serve_fake_openai

QUESTIONS = [
    {
        "question_id": 1,
        "category": "math",
        "turns": ["Сколько будет 7 + 5?", "А если вычесть 2?"],
        "reference": ["7 + 5 = 12.", "12 - 2 = 10."],
    },
    {
        "question_id": 2,
        "category": "writing",
        "turns": ["Where does the pilot live?", "And the teacher?"],
        "reference": ["The pilot lives in Moscow.", "The teacher lives in Velsami."],
    },
]
ANSWERS = [
    {"model": m, "question_id": q, "turn": t, "answer": a}
    for m, q, t, a in [
        ("sft", 1, 1, "7 + 5 = 13."),
        ("sft", 1, 2, "13 - 2 = 11."),
        ("sft", 2, 1, "The pilot lives in Moscow."),
        ("sft", 2, 2, "The teacher lives in Dorbel."),
        ("dpo", 1, 1, "7 + 5 = 12."),
        ("dpo", 1, 2, "12 - 2 = 10."),
        ("dpo", 2, 1, "The pilot lives in Moscow."),
        ("dpo", 2, 2, "The teacher lives in Velsami."),
    ]
]


def _client(fake, tmp_path, **kw):
    cfg = {
        "base_url": fake.base_url,
        "model": "gpt-4-0613",
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "cache_dir": str(tmp_path / "cache"),
        "api_key_env": None,
        **kw,
    }
    return OpenAICompatClient(cfg, credentials={"api_key": API_KEY})


def _fake_judge(body: dict) -> str:
    """A deterministic stand-in for GPT-4: rates by the last digit it sees, prefers the answer with '12'."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "[[A]]" in system:
        a_part = user.split("Assistant B")[0]
        return "A is right. [[A]]" if "= 12." in a_part and "= 13." not in a_part else "B is right. [[B]]"
    return "Looks fine. Rating: [[7]]" if "= 12." in user or "Velsami" in user else "Wrong. Rating: [[3]]"


def test_openai_judge_survives_faults_loses_nothing_and_pays_once(tmp_path, debug_logs):
    with serve_fake_openai() as fake:
        fake.reply = _fake_judge
        requests = []
        for q in QUESTIONS:  # learn each prompt's text so faults can be queued on it
            for turn in (1, 2):
                ans = tuple(
                    a["answer"]
                    for a in ANSWERS
                    if a["model"] == "sft" and a["question_id"] == q["question_id"]
                )
                requests.append(
                    JudgeRequest(
                        "single",
                        q["question_id"],
                        q["category"],
                        turn,
                        tuple(q["turns"]),
                        ans,
                        reference=tuple(q["reference"]),
                        use_reference=q["category"] == "math",
                    )
                )
        prompts = [render(r)[-1]["content"] for r in requests]
        fake.fail(prompts[0], {"status": 429, "headers": {"Retry-After": "0"}})
        fake.fail(prompts[1], {"status": 500}, {"garbage": "<html>bad gateway</html>"})
        fake.fail(prompts[2], {"garbage": '{"choices": []}'})

        judge = LLMJudge(_client(fake, tmp_path))
        rows = judge_single(QUESTIONS, ANSWERS, judge, ["sft", "dpo"])
        assert len(rows) == 8 and {(r["model"], r["question_id"], r["turn"]) for r in rows} == {
            (m, q, t) for m in ("sft", "dpo") for q in (1, 2) for t in (1, 2)
        }
        assert all(r["score"] in (3.0, 7.0) for r in rows)  # every judgment made, none lost to a fault
        first_calls = fake.calls
        # 7 distinct prompts (sft and dpo gave the same answer to question 2 turn 1: asked once) + 4 retries
        assert first_calls == 7 + 4
        # the math question's turn-1 prompt carries its reference, the writing one does not
        assert "Reference Answer" in prompts[0] and "Reference Answer" not in prompts[2]
        assert "### User:\nА если вычесть 2?" in prompts[1]  # turn 2 is judged on the whole conversation

        again = judge_single(QUESTIONS, ANSWERS, LLMJudge(_client(fake, tmp_path)), ["sft", "dpo"])
        assert fake.calls == first_calls  # the rerun is served from the cache: nothing paid twice
        assert [r["score"] for r in again] == [r["score"] for r in rows]

        pair_rows = judge_pairwise(QUESTIONS, ANSWERS, LLMJudge(_client(fake, tmp_path)), ("dpo", "sft"))
        assert len(pair_rows) == 8  # 2 questions x 2 turns x 2 orders
        body_seen = [b for b in fake.bodies if "[[A]]" in b["messages"][0]["content"]]
        assert all(b["temperature"] == 0.0 and b["model"] == "gpt-4-0613" for b in body_seen)
        outcomes, _ = pair_outcomes(pair_rows, ("dpo", "sft"))
        assert [o.outcome for o in outcomes if o.question_id == 1] == ["dpo", "dpo"]

        # several judge runs: run 1 carries seed 1, so it is its own request (and cache entry)
        n = fake.calls
        runs = judge_single(QUESTIONS[:1], ANSWERS, LLMJudge(_client(fake, tmp_path), n_runs=2), ["sft"])
        assert [r["run"] for r in runs] == [0, 0, 1, 1] and fake.calls == n + 2
        assert fake.bodies[-1]["seed"] == 1
    assert API_KEY not in debug_logs.text
    assert all(API_KEY not in str(r) for r in rows + pair_rows)


def test_verifier_judge_writes_parseable_verdicts():
    judge = VerifierJudge()
    rows = judge_single(QUESTIONS, ANSWERS, judge, ["sft", "dpo"])
    scores = {(r["model"], r["question_id"], r["turn"]): r["score"] for r in rows}
    assert scores[("dpo", 1, 1)] == 10 and scores[("sft", 1, 1)] < 10 and scores[("sft", 2, 1)] == 10
    assert all("[[" in r["raw"] for r in rows)
    pair_rows = judge_pairwise(QUESTIONS, ANSWERS, judge, ("dpo", "sft"))
    outcomes, n_unparsed = pair_outcomes(pair_rows, ("dpo", "sft"))
    assert n_unparsed == 0
    assert {(o.question_id, o.turn): o.outcome for o in outcomes} == {
        (1, 1): "dpo",
        (1, 2): "dpo",
        (2, 1): "tie",
        (2, 2): "dpo",
    }
    assert not any(o.inconsistent for o in outcomes)  # no position bias by construction


def test_verifier_without_reference_is_a_parse_failure_not_a_score():
    q = [{"question_id": 9, "category": "writing", "turns": ["Write a poem."]}]
    a = [{"model": "sft", "question_id": 9, "turn": 1, "answer": "Roses."}]
    (row,) = judge_single(q, a, VerifierJudge(), ["sft"])
    assert row["score"] is None and "cannot grade" in row["raw"]


def test_a_local_transformers_model_can_judge(tiny_model_dir):
    from llm_lifecycle.datasets import ChatClientDataset

    backend = ChatClientDataset(
        backend="transformers", client={"model": str(tiny_model_dir), "max_new_tokens": 6}
    ).load()
    judge = LLMJudge(backend, max_tokens=6)
    rows = judge_single(QUESTIONS[:1], ANSWERS, judge, ["sft"])
    assert len(rows) == 2 and all(isinstance(r["raw"], str) for r in rows)
    # an untrained judge does not follow the format: recorded, excluded, counted, never guessed
    assert all(r["score"] is None for r in rows if "[[" not in r["raw"])


def test_a_prompt_too_long_for_the_judge_is_a_counted_failure_not_a_failed_run(tmp_path):
    from tests.fake_openai import TOO_LONG

    with serve_fake_openai() as fake:
        fake.reply = _fake_judge
        judge = LLMJudge(_client(fake, tmp_path))
        first = JudgeRequest("single", 1, "math", 1, ("Q?",), ("7 + 5 = 12.",))
        long = JudgeRequest("single", 2, "writing", 1, ("Q2?",), ("x" * 50,))
        fake.fail(render(long)[-1]["content"], TOO_LONG)
        ok, refused = judge.judge_many([first, long])
    assert "[[7]]" in ok and refused.startswith("Not judged") and "[[" not in refused
