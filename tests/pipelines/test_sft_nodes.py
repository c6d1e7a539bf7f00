"""Saiga bad inputs through the catalog entry and the SFT data node: each error names the file and line."""

from __future__ import annotations

import json

import pytest
import yaml
from kedro.io import AbstractDataset

from llm_lifecycle.pipelines.sft.nodes import prepare_sft_data
from tests.kedro_project import ROOT

GOOD = {
    "messages": [{"role": "user", "content": "Где Москва?"}, {"role": "bot", "content": "Москва — город."}]
}
GOOD_LINE = json.dumps(GOOD, ensure_ascii=False).encode()


def _raw_instructions(path):
    """The `raw_instructions` entry of conf/base/catalog.yml, pointed at `path`."""
    config = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text(encoding="utf-8"))["raw_instructions"]
    config = {**config, "filepath": str(path), "versioned": False}
    return AbstractDataset.from_config("raw_instructions", config)


def _params(on_invalid: str = "raise") -> dict:
    return {"val_fraction": 0.0, "data": {"on_invalid": on_invalid}, "train": {"max_length": 128}}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "con', "malformed JSON"),
        (b'\xff\xfe{"messages": []}', "invalid UTF-8 at byte 0"),
        (b'{"id": 7}', "missing required field 'messages'"),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Yo"}]}',
            "unknown role: message 1: role 'robot'",
        ),
        (b'{"messages": []}', "no messages"),
    ],
    ids=["truncated_json", "invalid_utf8", "no_messages_field", "unknown_role", "empty_messages"],
)
def test_bad_saiga_line_is_named_by_file_and_line(tmp_path, tiny_tokenizer, bad_line, message):
    path = tmp_path / "instructions.jsonl"
    path.write_bytes(b"\n".join([GOOD_LINE, GOOD_LINE, bad_line, GOOD_LINE]) + b"\n")
    with pytest.raises(Exception) as info:  # noqa: PT011 - a DatasetError at load or a ValueError in the node
        prepare_sft_data(_raw_instructions(path).load(), tiny_tokenizer, _params(), seed=0)
    assert f"{path}:3" in str(info.value)
    assert message in str(info.value)


def test_empty_file_is_named(tmp_path, tiny_tokenizer):
    path = tmp_path / "instructions.jsonl"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=rf"{path}: no conversations at all"):
        prepare_sft_data(_raw_instructions(path).load(), tiny_tokenizer, _params(), seed=0)


def test_drop_mode_counts_bad_conversations_and_keeps_the_rest(tmp_path, tiny_tokenizer):
    path = tmp_path / "instructions.jsonl"
    unknown = {"messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Yo"}]}
    ends_on_user = {"messages": [{"role": "user", "content": "Hi"}]}
    lines = [GOOD, unknown, GOOD, ends_on_user, {"messages": []}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    splits, metrics = prepare_sft_data(
        _raw_instructions(path).load(), tiny_tokenizer, _params("drop"), seed=0
    )
    values = {k: v["value"] for k, v in metrics.items()}
    assert len(splits["train"]) == 2 and values["n_dropped"] == 3
    assert values["unknown_role"] == 1 and values["ends_on_user"] == 1 and values["no_messages"] == 1


def test_merging_folds_the_adapter_in_place_without_a_second_copy(tiny_tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model

    from llm_lifecycle.pipelines.adapters import merge_adapter_into_model
    from tests.conftest import make_tiny_llama

    torch.manual_seed(0)  # LoRA's A and the B drawn below come from the global generator other tests move
    model = get_peft_model(make_tiny_llama(tiny_tokenizer), LoraConfig(r=4, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        expected = model(input_ids=ids).logits
    base_q = model.get_base_model().model.layers[0].self_attn.q_proj.base_layer.weight
    merged, tok = merge_adapter_into_model((model, tiny_tokenizer))
    assert tok is tiny_tokenizer
    # the same storage, changed in place: the base weights were not copied to merge
    assert merged.model.layers[0].self_attn.q_proj.weight.data_ptr() == base_q.data_ptr()
    with torch.no_grad():
        # fp32 rounding of W + BA: B ~ N(0, 1) makes the merged weights ~10x the base ones
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, rtol=1e-4, atol=1e-4)


def test_a_bad_line_after_the_score_filter_and_the_holdout_is_still_named_by_its_own_line(
    tmp_path, tiny_tokenizer
):
    path = tmp_path / "instructions.jsonl"
    low = {**GOOD, "opus_score": 3}
    robot = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "robot", "content": "Yo"}],
        "opus_score": 9,
    }
    lines = [low, {**GOOD, "opus_score": 9}, low, robot]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines), encoding="utf-8")
    params = _params() | {"min_score": 8}
    holdout = {"fraction": 0.01, "salt": "nothing-held-out-here"}
    with pytest.raises(ValueError, match=rf"{path}:4: unknown role"):
        prepare_sft_data(_raw_instructions(path).load(), tiny_tokenizer, params, 0, holdout)
