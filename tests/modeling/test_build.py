"""Built transformers models: LLaMA/Mixtral structure, RoPE, GQA, forward, save/load, generate, seeding."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM, MixtralForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from llm_lifecycle.modeling import (
    ModelSettings,
    build_model,
    build_timing_model,
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


def _rotated_score(rotary, q: torch.Tensor, k: torch.Tensor, i: int, j: int) -> float:
    """Pre-softmax q·k of one head once the model's RoPE has put q at position i and k at position j."""
    cos, sin = rotary(q[None], torch.tensor([[i, j]]))  # (1, 2, head_dim): row 0 for position i, row 1 for j
    q4, k4 = q.view(1, 1, 1, -1), k.view(1, 1, 1, -1)  # (batch, heads, seq, head_dim)
    q_rot, _ = apply_rotary_pos_emb(q4, q4, cos[:, :1], sin[:, :1])
    _, k_rot = apply_rotary_pos_emb(k4, k4, cos[:, 1:], sin[:, 1:])
    return float((q_rot * k_rot).sum())


def _rope_reference(q: torch.Tensor, k: torch.Tensor, offset: int, theta: float) -> float:
    """RoPE (Su et al. 2021) in complex form, float64: Re Σ_c z_q,c · conj(z_k,c) · e^{i·offset·θ_c}.

    transformers pairs dimension c with c + d/2 ("rotate_half" layout): z_c = x[c] + i·x[c + d/2], and
    θ_c = theta^(-2c/d). Only the offset i - j enters, so this is the relative-position property written out.
    """
    half = q.shape[-1] // 2
    freqs = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / q.shape[-1])
    zq = torch.complex(q[:half].double(), q[half:].double())
    zk = torch.complex(k[:half].double(), k[half:].double())
    turn = torch.polar(torch.ones(half, dtype=torch.float64), offset * freqs)
    return float((zq * zk.conj() * turn).real.sum())


def test_rope_scores_by_hand():
    # head_dim 4, theta 1e4: inv_freq = (1, 1e4^(-2/4)) = (1, 0.01); the pair (x0, x2) turns 1 rad per
    # position, (x1, x3) 0.01 rad. Query e0 at i, key e0 at j:
    #   (cos iθ, 0, sin iθ, 0)·(cos jθ, 0, sin jθ, 0) = cos((i-j)θ);
    # key e2 instead (rotate_half(e2) = -e0): (cos iθ, 0, sin iθ, 0)·(-sin jθ, 0, cos jθ, 0) = sin((i-j)θ).
    cfg = tiny_config(vocab_size=16, hidden_size=8, n_layers=1, n_heads=2, n_kv_heads=1, intermediate_size=16)
    rotary = build_model(cfg, seed=0).model.rotary_emb
    torch.testing.assert_close(rotary.inv_freq, torch.tensor([1.0, 0.01]))
    e = torch.eye(4)
    for i, j in [(3, 1), (8, 6), (103, 101)]:  # the same offset 2, shifted by 5 and by 100
        assert _rotated_score(rotary, e[0], e[0], i, j) == pytest.approx(math.cos(2), abs=1e-5)  # -0.416147
        assert _rotated_score(rotary, e[0], e[2], i, j) == pytest.approx(math.sin(2), abs=1e-5)  # 0.909297
        assert _rotated_score(rotary, e[1], e[1], i, j) == pytest.approx(math.cos(0.02), abs=1e-5)  # 0.999800
        assert _rotated_score(rotary, e[1], e[3], i, j) == pytest.approx(math.sin(0.02), abs=1e-5)  # 0.019999
    # the sign of the offset is seen: the key two positions after the query gives sin(-2) = -0.909297
    assert _rotated_score(rotary, e[0], e[2], 1, 3) == pytest.approx(-math.sin(2), abs=1e-5)
    # only the query moves (3 -> 8): the offset becomes 7, cos 7 = 0.753902
    assert _rotated_score(rotary, e[0], e[0], 8, 1) == pytest.approx(math.cos(7), abs=1e-5)


def test_rope_attention_scores_depend_only_on_the_offset(dense):
    """Layer 0's own q/k projections of two random states, rotated by the model's RoPE, vs the reference."""
    cfg = tiny_config()
    attn, hd = dense.model.layers[0].self_attn, cfg.resolved_head_dim
    x = torch.randn(2, cfg.hidden_size, generator=torch.Generator().manual_seed(0)) * 10
    with torch.no_grad():
        q = attn.q_proj(x[0]).view(cfg.n_heads, hd)[1]  # query head 1 ...
        k = attn.k_proj(x[1]).view(cfg.n_kv_heads, hd)[0]  # ... reads kv head 0 (group size 2)
    for i, j in [(5, 2), (40, 7), (3, 10), (6, 6)]:
        score = _rotated_score(dense.model.rotary_emb, q, k, i, j)
        assert score == pytest.approx(_rope_reference(q, k, i - j, cfg.rope_theta), rel=1e-4, abs=1e-5)
        for s in (1, 17, 200):
            assert _rotated_score(dense.model.rotary_emb, q, k, i + s, j + s) == pytest.approx(
                score, rel=1e-4, abs=1e-5
            )
            # moving only the query changes the offset, and the score with it
            moved = _rotated_score(dense.model.rotary_emb, q, k, i + s, j)
            expected = _rope_reference(q, k, i + s - j, cfg.rope_theta)
            assert moved == pytest.approx(expected, rel=1e-4, abs=1e-5)
            # scores here are ~40; these changes are 1 to 46, the tolerance 4e-3
            assert abs(moved - score) > 0.5


def test_whole_model_only_sees_relative_positions(dense):
    # RoPE is the model's only position signal: shifting every position id by s leaves all logits unchanged,
    # while a gap of 30 positions before the fifth token changes the logits from that token on and (causal
    # attention) none before it.
    ids = torch.randint(3, 4096, (2, 12), generator=torch.Generator().manual_seed(1))
    pos = torch.arange(12).expand(2, -1)
    gap = torch.cat([torch.arange(4), torch.arange(4, 12) + 30]).expand(2, -1)
    with torch.no_grad():
        ref = dense(input_ids=ids, position_ids=pos).logits
        for s in (1, 100):
            shifted = dense(input_ids=ids, position_ids=pos + s).logits
            torch.testing.assert_close(shifted, ref, rtol=0, atol=1e-5)
        gapped = dense(input_ids=ids, position_ids=gap).logits
    torch.testing.assert_close(gapped[:, :4], ref[:, :4], rtol=0, atol=1e-6)
    assert (gapped[:, 4:] - ref[:, 4:]).abs().amax(dim=(0, 2)).min() > 1e-3  # every later token moved


# n_heads 4, head_dim 8, hidden 32: k/v projections hold n_kv_heads · 8 rows of 32.
_GQA = {"vocab_size": 64, "hidden_size": 32, "n_layers": 2, "n_heads": 4, "intermediate_size": 64}


def _mha_twin(gqa, order: str) -> LlamaForCausalLM:
    """An MHA model (4 kv heads) holding `gqa`'s weights with its 2 kv heads' k/v rows expanded to 4 heads.

    "interleave" repeats each kv head for its group (kv head g serves query heads 2g, 2g+1): kv heads
    (0, 0, 1, 1); "tile" is the wrong grouping (0, 1, 0, 1).
    """
    mha = build_model(tiny_config(**_GQA, n_kv_heads=4), seed=1)
    state = dict(gqa.state_dict())
    for name, w in state.items():
        if name.endswith(("k_proj.weight", "v_proj.weight")):
            heads = w.view(2, 8, 32)  # (kv head, head_dim, hidden): nn.Linear rows are the outputs
            wide = heads.repeat_interleave(2, dim=0) if order == "interleave" else heads.repeat(2, 1, 1)
            state[name] = wide.reshape(4 * 8, 32)
    mha.load_state_dict(state)
    return mha


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_gqa_equals_mha_with_each_kv_head_repeated_for_its_group(attn_implementation):
    gqa = build_model(tiny_config(**_GQA, n_kv_heads=2), seed=0)
    with torch.no_grad():  # sharper attention than the 0.02-std init, so a wrong grouping shows clearly
        for layer in gqa.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                proj.weight.mul_(10)
    mha, tiled = _mha_twin(gqa, "interleave"), _mha_twin(gqa, "tile")
    for m in (gqa, mha, tiled):
        m.set_attn_implementation(attn_implementation)
    x = torch.randn(2, 6, 32, generator=torch.Generator().manual_seed(0))
    pe = gqa.model.rotary_emb(x, torch.arange(6).expand(2, -1))
    with torch.no_grad():
        out = [m.model.layers[0].self_attn(x, pe, attention_mask=None)[0] for m in (gqa, mha, tiled)]
    torch.testing.assert_close(out[1], out[0], rtol=1e-5, atol=1e-6)
    assert (out[2] - out[0]).abs().max() > 0.1 * out[0].abs().max()  # query head 1 must read kv head 0, not 1
    ids = torch.randint(3, 64, (2, 10), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():  # the whole causal model too
        torch.testing.assert_close(mha(ids).logits, gqa(ids).logits, rtol=1e-5, atol=1e-6)


def test_gqa_parameter_count_by_hand():
    gqa = build_model(tiny_config(**_GQA, n_kv_heads=2), seed=0)
    mha = build_model(tiny_config(**_GQA, n_kv_heads=4), seed=0)
    # per layer: q 32·32 = 1024, k and v 2·8·32 = 512 each (GQA) or 4·8·32 = 1024 each (MHA), o 1024,
    # SwiGLU 3·32·64 = 6144, two RMSNorms 64  ->  9280 (GQA), 10304 (MHA)
    # model: embedding 64·32 = 2048, LM head 2048, final norm 32, 2 layers  ->  22688 (GQA), 24736 (MHA)
    assert gqa.model.layers[0].self_attn.k_proj.weight.numel() == 512
    assert mha.model.layers[0].self_attn.k_proj.weight.numel() == 1024
    assert sum(p.numel() for p in gqa.parameters()) == 22688
    assert sum(p.numel() for p in mha.parameters()) == 24736  # 2 layers · (k + v) · 512 = 2048 more


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


@pytest.mark.parametrize("make_cfg", [tiny_config, tiny_moe_config])
def test_timing_model_is_build_models_architecture_with_ordinary_seeded_weights(make_cfg):
    """The latency pipeline's stand-in: `build_model`'s shapes and buffers, weights drawn without the
    double init, reproducible from the seed, and values a forward pass computes at full speed."""
    cfg = make_cfg()
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    timing = build_timing_model(cfg, seed=7)
    assert torch.equal(torch.rand(1), before)  # no draw from the caller's random stream
    ref = build_model(cfg, seed=7)
    assert type(timing) is type(ref)
    st, sr = timing.state_dict(), ref.state_dict()
    assert {k: v.shape for k, v in st.items()} == {k: v.shape for k, v in sr.items()}
    for name, buf in ref.named_buffers():  # RoPE's inverse frequencies are computed, not drawn
        assert torch.equal(dict(timing.named_buffers())[name], buf), name
    std = timing.config.initializer_range
    for name, w in st.items():
        assert torch.isfinite(w).all(), name
        nonzero = w[w != 0].abs()
        assert (nonzero >= torch.finfo(w.dtype).tiny).all(), f"{name}: subnormal values"
        if w.dim() < 2:
            assert torch.equal(w, torch.ones_like(w)), name  # RMSNorm weights
        else:
            assert w.std().item() == pytest.approx(std, rel=0.1), name
    again, other = build_timing_model(cfg, seed=7).state_dict(), build_timing_model(cfg, seed=8).state_dict()
    assert all(torch.equal(st[k], again[k]) for k in st)
    assert not torch.equal(st["model.embed_tokens.weight"], other["model.embed_tokens.weight"])
    ids = torch.randint(0, cfg.vocab_size, (2, 8))
    with torch.no_grad():
        assert torch.isfinite(timing(input_ids=ids).logits).all()


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
def test_hf_config_round_trip(cfg: ModelSettings):
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
