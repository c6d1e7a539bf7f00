"""Saiga conversation checks: roles normalised, each problem counted (drop) or named by file:line (raise)."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from llm_lifecycle.datasets.jsonl import Records, read_jsonl
from llm_lifecycle.training.alignment.conversations import (
    PROBLEMS,
    ConversationCheckSettings,
    InvalidConversationError,
    check_conversations,
    normalise_messages,
    split_train_val,
)


def _m(role: str, content: str) -> dict:
    return {"role": role, "content": content}


GOOD = {"messages": [_m("user", "Where is Moscow?"), _m("bot", "Moscow is a large city.")], "source": "x"}
LONG = "Moscow is a large city. " * 40

# problem -> a record that has exactly that problem
BAD: dict[str, dict] = {
    "no_messages": {"messages": []},
    "malformed_message": {"messages": [_m("user", "Hi"), {"role": "bot"}]},
    "unknown_role": {"messages": [_m("user", "Hi"), _m("robot", "Hello.")]},
    "empty_content": {"messages": [_m("user", "Hi"), _m("bot", "  ")]},
    "ends_on_user": {"messages": [_m("user", "Hi"), _m("bot", "Hello."), _m("user", "And?")]},
    "first_not_user": {"messages": [_m("system", "Be brief."), _m("bot", "Hello."), _m("user", "Hi")]},
    "too_long": {"messages": [_m("user", "Tell me."), _m("bot", LONG)]},
}
# `first_not_user` above also ends on a user turn: the earlier check wins, so give it a bot ending.
BAD["first_not_user"]["messages"].append(_m("bot", "Fine."))


def _write(tmp_path, records: list, name: str = "conv.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_problem_table_covers_the_fixtures():
    assert set(BAD) == set(PROBLEMS)


def test_roles_are_normalised_for_trl():
    messages = [_m("system", "S"), _m("human", "Q"), _m("bot", "A"), _m("user", "Q2"), _m("assistant", "A2")]
    assert [m["role"] for m in normalise_messages(messages)] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
    ]


def test_clean_records_become_trl_conversations(tiny_tokenizer):
    record = {"messages": [_m("system", "Be brief."), _m("human", "Hi"), _m("bot", "Hello.")], "score": 9}
    clean, report = check_conversations(
        [record, GOOD], tiny_tokenizer, ConversationCheckSettings(), max_length=128
    )
    assert clean[0] == {
        "messages": [_m("system", "Be brief."), _m("user", "Hi"), _m("assistant", "Hello.")]
    }  # extra fields dropped, roles in TRL's vocabulary
    assert report["n_kept"] == 2 and report["n_dropped"] == 0
    assert all(report[key] == 0 for key in PROBLEMS)


def test_assistant_role_renders_like_saiga_bot(tiny_tokenizer):
    saiga = [_m("system", "S"), _m("user", "Q"), _m("bot", "A")]
    trl = normalise_messages(saiga)
    assert tiny_tokenizer.apply_chat_template(trl, tokenize=False) == tiny_tokenizer.apply_chat_template(
        saiga, tokenize=False
    )
    assert "<s>bot\nA</s>" in tiny_tokenizer.apply_chat_template(trl, tokenize=False)


def test_drop_counts_every_problem(tmp_path, tiny_tokenizer, caplog):
    records = [GOOD, *BAD.values(), GOOD]
    path = _write(tmp_path, records)
    loaded = read_jsonl(path)
    with caplog.at_level(logging.WARNING, logger="llm_lifecycle.training.alignment.conversations"):
        clean, report = check_conversations(
            loaded, tiny_tokenizer, ConversationCheckSettings(), max_length=64
        )
    assert len(clean) == 2
    assert {key: report[key] for key in PROBLEMS} == dict.fromkeys(PROBLEMS, 1)
    assert report["n_input"] == len(records) and report["n_dropped"] == len(BAD)
    # the warning names the counts and file:line examples (line 2 is the first bad record)
    assert f"{path}:2" in caplog.text and "no_messages: 1" in caplog.text and "too_long: 1" in caplog.text


def test_skipped_lines_at_load_are_reported(tmp_path, tiny_tokenizer):
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(GOOD) + "\nnot json\n", encoding="utf-8")
    loaded = read_jsonl(path, on_bad_record="skip")
    _, report = check_conversations(loaded, tiny_tokenizer)
    assert report["n_skipped_at_load"] == 1 and report["n_kept"] == 1


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_raise_names_file_line_and_problem(tmp_path, tiny_tokenizer, problem):
    path = _write(tmp_path, [GOOD, GOOD, BAD[problem]])
    loaded = read_jsonl(path)
    assert isinstance(loaded, Records) and loaded.where(2) == f"{path}:3"
    with pytest.raises(InvalidConversationError) as err:
        check_conversations(
            loaded, tiny_tokenizer, ConversationCheckSettings(on_invalid="raise"), max_length=64
        )
    assert f"{path}:3" in str(err.value)
    assert PROBLEMS[problem] in str(err.value)


def test_raise_on_plain_list_names_the_record_index(tiny_tokenizer):
    with pytest.raises(InvalidConversationError, match="record 1: unknown role"):
        check_conversations(
            [GOOD, BAD["unknown_role"]], tiny_tokenizer, ConversationCheckSettings(on_invalid="raise")
        )


def test_length_limit_uses_the_chat_template(tiny_tokenizer):
    n = len(
        tiny_tokenizer.apply_chat_template(GOOD["messages"], tokenize=True, return_dict=True)["input_ids"]
    )
    kept, _ = check_conversations([GOOD], tiny_tokenizer, ConversationCheckSettings(), max_length=n)
    dropped, report = check_conversations(
        [GOOD], tiny_tokenizer, ConversationCheckSettings(), max_length=n - 1
    )
    assert len(kept) == 1 and not dropped and report["too_long"] == 1
    unlimited, _ = check_conversations(
        [BAD["too_long"]], tiny_tokenizer, ConversationCheckSettings(), max_length=None
    )
    assert len(unlimited) == 1


def test_config_is_typed():
    with pytest.raises(ValidationError):
        ConversationCheckSettings(on_invalid="ignore")
    with pytest.raises(ValidationError):  # the length limit is the trainer's max_length, not a check's
        ConversationCheckSettings(max_length=10)


def _conv(i: int) -> dict:
    return {"messages": [_m("user", f"Question {i}?"), _m("assistant", f"Answer {i}.")]}


def test_split_is_deterministic_order_free_and_sized():
    convs = [_conv(i) for i in range(100)]
    train, val = split_train_val(convs, 0.1, seed=3)
    assert len(val) == 10 and len(train) == 90
    assert split_train_val(convs, 0.1, seed=3) == (train, val)
    train_r, val_r = split_train_val(list(reversed(convs)), 0.1, seed=3)
    assert sorted(map(str, val_r)) == sorted(map(str, val))
    assert train == [c for c in convs if c not in val]  # input order kept
    _, val_other = split_train_val(convs, 0.1, seed=4)
    assert val_other != val


def test_split_edge_cases():
    assert split_train_val([_conv(1), _conv(2)], 0.01, 0)[1]  # at least one in val
    assert split_train_val([_conv(1)], 0.5, 0) == ([_conv(1)], [])
    assert split_train_val([_conv(1), _conv(2)], 0.0, 0) == ([_conv(1), _conv(2)], [])
    dup = [_conv(1)] * 3 + [_conv(i) for i in range(2, 12)]
    train, val = split_train_val(dup, 0.3, 0)
    assert not (_conv(1) in train and _conv(1) in val)  # duplicates never straddle the split
    same = [_conv(1)] * 4
    assert split_train_val(same, 0.5, 0) == (same, [])  # never empties train
    with pytest.raises(ValueError):
        split_train_val(dup, 1.0, 0)
