"""Built transformers models: LLaMA/Mixtral structure, forward, save/load, generate, determinism."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM, MixtralForCausalLM

from llm_lifecycle.modeling import (
    ModelConfig,
    build_model,
    cpu_experts_implementation,
    from_hf_config,
    tiny_config,
    tiny_moe_config,
    to_hf_config,
)


@pytest.fixture(scope="module")
def dense() -> LlamaForCausalLM:
    return build_model(tiny_config(), seed=0)


@pytest.fixture(scope="module")
def moe() -> MixtralForCausalLM:
    return build_model(tiny_moe_config(), seed=0)


def test_dense_structure(dense):
    cfg = tiny_config()
    assert isinstance(dense, LlamaForCausalLM)
    assert len(dense.model.layers) == cfg.n_layers
    attn = dense.model.layers[0].self_attn
    h, q = cfg.hidden_size, cfg.resolved_head_dim
    # nn.Linear weight is (out_features, in_features); GQA: k/v project to n_kv_heads * head_dim only.
    assert attn.q_proj.weight.shape == (cfg.n_heads * q, h)
    assert attn.k_proj.weight.shape == (cfg.n_kv_heads * q, h)
    assert attn.v_proj.weight.shape == (cfg.n_kv_heads * q, h)
    assert attn.o_proj.weight.shape == (h, cfg.n_heads * q)
    assert all(lin.bias is None for lin in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj))
    mlp = dense.model.layers[0].mlp  # SwiGLU: down(silu(gate(x)) * up(x))
    assert mlp.gate_proj.weight.shape == (cfg.intermediate_size, h)
    assert mlp.up_proj.weight.shape == (cfg.intermediate_size, h)
    assert mlp.down_proj.weight.shape == (h, cfg.intermediate_size)
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(mlp.act_fn(x), torch.nn.functional.silu(x))
    layer = dense.model.layers[0]
    assert "RMSNorm" in type(layer.input_layernorm).__name__
    assert "RMSNorm" in type(layer.post_attention_layernorm).__name__
    assert "RMSNorm" in type(dense.model.norm).__name__
    assert "Rotary" in type(dense.model.rotary_emb).__name__
    assert dense.model.rotary_emb.inv_freq.shape == (q // 2,)
    assert dense.lm_head.weight.shape == (cfg.vocab_size, h)
    assert dense.lm_head.weight.data_ptr() != dense.model.embed_tokens.weight.data_ptr()
    assert dense.dtype == torch.float32


def test_tied_embeddings_share_storage():
    model = build_model(tiny_config(tie_word_embeddings=True), seed=0)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_moe_structure(moe):
    cfg = tiny_moe_config()
    assert isinstance(moe, MixtralForCausalLM)
    block = moe.model.layers[0].mlp
    e, h, i = cfg.moe.n_experts, cfg.hidden_size, cfg.intermediate_size
    assert block.gate.weight.shape == (e, h)  # router: hidden -> one logit per expert
    assert block.gate.top_k == cfg.moe.top_k
    # transformers 5 stacks the experts' SwiGLU weights: gate and up fused, (E, 2I, H); down (E, H, I).
    assert block.experts.gate_up_proj.shape == (e, 2 * i, h)
    assert block.experts.down_proj.shape == (e, h, i)
    assert moe.model.layers[0].self_attn.k_proj.weight.shape == (cfg.n_kv_heads * cfg.resolved_head_dim, h)
    assert moe.config._experts_implementation == cpu_experts_implementation() == "eager"


def test_router_gates_are_softmax_top_k(moe):
    router = moe.model.layers[0].mlp.gate
    x = torch.randn(5, tiny_moe_config().hidden_size)
    logits, scores, indices = router(x)
    assert logits.shape == (5, 4) and scores.shape == (5, 2) and indices.shape == (5, 2)
    torch.testing.assert_close(scores.sum(-1), torch.ones(5))  # renormalised over the chosen k
    assert torch.equal(indices, torch.topk(logits, 2, dim=-1).indices)


@pytest.mark.parametrize("fixture", ["dense", "moe"])
def test_forward_loss_finite_and_backward(fixture, request):
    model = request.getfixturevalue(fixture)
    ids = torch.randint(3, 4096, (2, 16), generator=torch.Generator().manual_seed(0))
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (2, 16, 4096)
    assert torch.isfinite(out.loss)
    # Fresh init predicts ~uniformly: loss near ln(V) = 8.32.
    assert abs(out.loss.item() - torch.log(torch.tensor(4096.0)).item()) < 0.5
    out.loss.backward()
    model.zero_grad(set_to_none=True)


def test_build_is_deterministic_and_keeps_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(tiny_config(n_layers=1), seed=7)
    after = torch.rand(1)
    b = build_model(tiny_config(n_layers=1), seed=7)
    c = build_model(tiny_config(n_layers=1), seed=8)
    assert torch.equal(before, after)  # the caller's random stream is untouched
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.embed_tokens.weight"], sc["model.embed_tokens.weight"])


@pytest.mark.parametrize("fixture", ["dense", "moe"])
def test_save_pretrained_reload_and_generate(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    kwargs = {"experts_implementation": cpu_experts_implementation()} if fixture == "moe" else {}
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, **kwargs)
    assert type(loaded) is type(model)
    if fixture == "moe":
        assert loaded.config._experts_implementation == "eager"
    ids = torch.tensor([[1, 10, 11, 12]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits)
    out = loaded.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 8)
    assert from_hf_config(loaded.config).model_copy(update={"dtype": "float32"}) == (
        tiny_config() if fixture == "dense" else tiny_moe_config()
    )


@pytest.mark.parametrize(
    "cfg",
    [tiny_config(), tiny_moe_config(), tiny_config(head_dim=64, tie_word_embeddings=True, dtype="bfloat16")],
)
def test_hf_config_round_trip(cfg: ModelConfig):
    hf = to_hf_config(cfg)
    assert hf.model_type == cfg.model_type
    assert from_hf_config(hf) == cfg
    assert from_hf_config(hf.to_dict()) == cfg


def test_from_hf_config_refuses_what_it_cannot_count():
    d = to_hf_config(tiny_config()).to_dict()
    with pytest.raises(ValueError, match="attention_bias"):
        from_hf_config({**d, "attention_bias": True})
    with pytest.raises(ValueError, match="'gpt2'"):
        from_hf_config({**d, "model_type": "gpt2"})


def test_from_hf_config_reads_a_hub_style_dict():
    # Keys as in meta-llama/Meta-Llama-3-8B config.json (transformers 4.x style: rope_theta, torch_dtype).
    hub = {
        "model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
        "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": 128000, "eos_token_id": 128001,
    }  # fmt: skip
    cfg = from_hf_config(hub)
    assert cfg.n_kv_heads == 8 and cfg.rope_theta == 500000.0 and cfg.dtype == "bfloat16"
    assert cfg.pad_token_id is None
