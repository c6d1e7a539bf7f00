"""ModelSettings validation, defaults and the architecture YAML files."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llm_lifecycle.modeling import ModelSettings, MoESettings, load_architecture, tiny_config, tiny_moe_config

ARCH_DIR = Path(__file__).resolve().parents[2] / "conf" / "base" / "architectures"


def test_tiny_defaults_match_reference_model():
    cfg = ModelSettings()
    assert cfg == tiny_config()
    assert (cfg.vocab_size, cfg.hidden_size, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads) == (
        4096,
        128,
        4,
        4,
        2,
    )
    assert cfg.resolved_head_dim == 32
    assert cfg.gqa_group_size == 2
    assert cfg.model_type == "llama" and not cfg.is_moe
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (0, 1, 2)
    assert cfg.dtype == "float32"


def test_tiny_moe_variant():
    cfg = tiny_moe_config()
    assert cfg.moe == MoESettings(n_experts=4, top_k=2)
    assert cfg.model_type == "mixtral"


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"n_heads": 4, "n_kv_heads": 3}, ["n_heads (4)", "n_kv_heads (3)"]),
        ({"hidden_size": 130, "n_heads": 4, "n_kv_heads": 2}, ["hidden_size (130)", "n_heads (4)"]),
        ({"moe": {"n_experts": 4, "top_k": 5}}, ["moe.top_k (5)", "moe.n_experts (4)"]),
        ({"dtype": "float64"}, ["float64"]),
        ({"eos_token_id": 5000}, ["eos_token_id (5000)", "vocab_size=4096"]),
        ({"pad_token_id": -1}, ["pad_token_id (-1)"]),
        ({"n_layers": 0}, ["n_layers"]),
        ({"hiden_size": 128}, ["hiden_size"]),  # extra="forbid" catches typos
        ({"moe": {"n_experts": 4, "top_k": 2, "jitter": 0.1}}, ["jitter"]),
    ],
)
def test_validation_errors_name_field_and_values(kwargs, fragments):
    with pytest.raises(ValidationError) as err:
        ModelSettings(**kwargs)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message


def test_config_is_frozen():
    with pytest.raises(ValidationError):
        ModelSettings().hidden_size = 256  # type: ignore[misc]


@pytest.mark.parametrize("name", ["llama2_7b", "llama3_8b", "mixtral_8x7b"])
def test_architecture_yaml_loads(name):
    cfg = load_architecture(ARCH_DIR / f"{name}.yml")
    assert cfg.hidden_size == 4096 and cfg.n_layers == 32 and cfg.resolved_head_dim == 128
    assert isinstance(cfg.rms_norm_eps, float) and cfg.rms_norm_eps == 1e-5


def test_load_architecture_rejects_non_mapping(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        load_architecture(path)
