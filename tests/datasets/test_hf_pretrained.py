"""HFPretrainedDataset: versioned save_pretrained directories that AutoModel/AutoTokenizer load."""

import pytest
import torch
from kedro.io.core import DatasetError, Version
from transformers import LlamaConfig, LlamaForCausalLM

from llm_lifecycle.datasets import HFPretrainedDataset


def _tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(cfg).eval()


def test_model_round_trip_is_exact_and_uses_safetensors(tmp_path):
    model = _tiny_llama()
    ds = HFPretrainedDataset(str(tmp_path / "base_model"), kind="causal_lm", version=Version(None, None))
    ds.save(model)
    (version_dir,) = list((tmp_path / "base_model").iterdir())
    files = {p.name for p in (version_dir / "base_model").iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    loaded = HFPretrainedDataset(
        str(tmp_path / "base_model"), kind="causal_lm", version=Version(None, None)
    ).load()
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)


def test_versions_accumulate_and_latest_loads(tmp_path):
    path = str(tmp_path / "m")
    HFPretrainedDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save(_tiny_llama(0))
    HFPretrainedDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z")).save(_tiny_llama(1))
    latest = HFPretrainedDataset(path, version=Version(None, None)).load()
    first = HFPretrainedDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    w = "model.embed_tokens.weight"
    assert torch.equal(latest.state_dict()[w], _tiny_llama(1).state_dict()[w])
    assert torch.equal(first.state_dict()[w], _tiny_llama(0).state_dict()[w])


def test_failed_save_leaves_no_partial_version(tmp_path):
    class Exploding:
        def save_pretrained(self, path):
            (tmp_path / "marker").write_text(path)
            open(f"{path}/half.safetensors", "w").write("partial")
            raise RuntimeError("disk full")

    ds = HFPretrainedDataset(str(tmp_path / "m"), version=Version(None, "v1"))
    with pytest.raises(DatasetError, match="disk full"):
        ds.save(Exploding())
    assert not ds.exists()
    assert not [p for p in (tmp_path / "m").rglob("*") if p.is_file()]  # the temp dir was cleaned up


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="unknown kind 'gguf'"):
        HFPretrainedDataset(str(tmp_path / "m"), kind="gguf")
    with pytest.raises(DatasetError, match="has no save_pretrained"):
        HFPretrainedDataset(str(tmp_path / "m")).save({"not": "a model"})


def test_remote_code_is_off_by_default(tmp_path):
    assert HFPretrainedDataset(str(tmp_path / "m"))._load_args["trust_remote_code"] is False


def test_model_and_tokenizer_saved_together_load_together(tmp_path, tiny_tokenizer):
    model = _tiny_llama()
    path = str(tmp_path / "sft_model")
    HFPretrainedDataset(path, kind="causal_lm", version=Version(None, None)).save((model, tiny_tokenizer))
    loaded = HFPretrainedDataset(
        path, kind="causal_lm", with_tokenizer=True, version=Version(None, None)
    ).load()
    assert isinstance(loaded, tuple) and len(loaded) == 2
    loaded_model, loaded_tokenizer = loaded
    assert loaded_tokenizer.chat_template == tiny_tokenizer.chat_template
    assert loaded_tokenizer("Москва")["input_ids"] == tiny_tokenizer("Москва")["input_ids"]
    w = "model.embed_tokens.weight"
    assert torch.equal(loaded_model.state_dict()[w], model.state_dict()[w])


def test_a_hub_repository_is_read_only_counts_as_present_and_a_failed_load_names_repo_and_token(monkeypatch):
    from kedro.io import AbstractDataset

    # Kedro makes a relative `filepath` absolute under the project; a `repo_id` stays the hub's id.
    ds = AbstractDataset.from_config(
        "base_model",
        {"type": "llm_lifecycle.datasets.HFPretrainedDataset", "repo_id": "org/no-such-model"},
    )
    assert ds.hub_id == "org/no-such-model" and ds.exists()  # resolved on load, not a missing input
    with pytest.raises(DatasetError, match="read-only"):
        ds.save(_tiny_llama())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # (huggingface_hub read HF_HOME at import: no id cached)
    with pytest.raises(DatasetError) as info:
        ds.load()
    message = str(info.value)
    assert "cannot load causal lm 'org/no-such-model' from the Hugging Face hub" in message
    assert "HF_HUB_OFFLINE is set" in message
    for bad in ({}, {"filepath": "x", "repo_id": "a/b"}):
        with pytest.raises(DatasetError, match="either `filepath`"):
            HFPretrainedDataset(**bad)


def test_the_token_hint_says_whether_it_is_set_never_what_it_is(monkeypatch):
    from llm_lifecycle.datasets.hub_access import token_hint

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert "HF_TOKEN is not set" in token_hint() and "accepted the licence" in token_hint()
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    assert "HF_TOKEN is set" in token_hint() and "hf_secret_value" not in token_hint()
