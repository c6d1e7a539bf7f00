"""Inputs go where the model is; generation moves to the accelerator. Checked without a GPU: the `meta`
device stands in for CUDA (a real device that is not the CPU, whose tensors cannot be mixed with CPU
ones), and a forward pre-hook records the device of the inputs each model received."""

from __future__ import annotations

import pytest
import torch

from llm_lifecycle import devices
from llm_lifecycle.llm_clients import GenerationSettings, HFChatBackend
from tests.conftest import make_tiny_llama


class Reached(Exception):
    """Raised by the probes once they have seen the inputs (a meta model cannot compute a result)."""


def _probe(module: torch.nn.Module) -> list[str]:
    seen: list[str] = []

    def hook(mod, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        seen.append(ids.device.type)
        raise Reached

    module.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


@pytest.fixture
def meta_policy(tiny_tokenizer):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(make_tiny_llama(tiny_tokenizer), LoraConfig(r=2, target_modules="all-linear"))
    return model.to("meta")


def test_kl_tools_send_their_inputs_to_the_models_device(meta_policy, tiny_tokenizer):
    from llm_lifecycle.training.alignment.policy_checks import policy_and_reference_logps, sample_answer

    generated: list[str] = []

    def generate(**kwargs):  # generate() itself cannot run on meta; the inputs it is given are the point
        generated.append(kwargs["input_ids"].device.type)
        raise Reached

    meta_policy.generate = generate
    with pytest.raises(Reached):
        sample_answer(meta_policy, tiny_tokenizer, [{"role": "user", "content": "Где Москва?"}], 4)
    seen = _probe(meta_policy.get_base_model().model)
    with pytest.raises(Reached):
        policy_and_reference_logps(meta_policy, torch.tensor([[1, 2, 3, 4]]), 2)
    assert generated == ["meta"] and seen == ["meta"]


def test_reward_scoring_sends_its_inputs_to_the_models_device(tiny_tokenizer):
    from llm_lifecycle.training.alignment.reward import reward_model_from_causal_lm, score_conversations

    rm = reward_model_from_causal_lm(make_tiny_llama(tiny_tokenizer), tiny_tokenizer.pad_token_id, 0)
    rm = rm.to("meta")
    seen = _probe(rm.model)
    conv = [{"role": "user", "content": "Где Москва?"}, {"role": "assistant", "content": "Там."}]
    with pytest.raises(Reached):
        score_conversations(rm, tiny_tokenizer, [conv])
    assert seen == ["meta"]


def test_generation_moves_a_cpu_model_to_the_accelerator(tiny_tokenizer, monkeypatch):
    monkeypatch.setattr(devices, "accelerator", lambda: "meta")  # "a GPU is available"
    model = make_tiny_llama(tiny_tokenizer)
    backend = HFChatBackend(model, tiny_tokenizer, GenerationSettings(max_new_tokens=2))
    assert devices.model_device(backend.model).type == "meta"
    generated: list[str] = []

    def generate(**kwargs):
        generated.append(kwargs["input_ids"].device.type)
        raise Reached

    backend.model.generate = generate
    with pytest.raises(Reached):
        backend.complete_many([[{"role": "user", "content": "Где Москва?"}]])
    assert generated == ["meta"]


def test_without_an_accelerator_models_stay_where_they_are(tiny_tokenizer, monkeypatch):
    monkeypatch.setattr(devices, "accelerator", lambda: "cpu")
    model = make_tiny_llama(tiny_tokenizer)
    assert devices.place_for_inference(model) is model and devices.model_device(model).type == "cpu"
    monkeypatch.setattr(devices, "accelerator", lambda: "meta")
    model.hf_device_map = {"": 0}  # dispatched by device_map: accelerate owns its placement
    assert devices.model_device(devices.place_for_inference(model)).type == "cpu"
