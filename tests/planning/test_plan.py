"""The plan of each environment from its own parameters: hand-worked numbers for llama3_8b, API calls and
cost, the setting that would make a stage fit, the article's numbers, and predictions against a run."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from llm_lifecycle.modeling.calculator import training_flops_per_token
from llm_lifecycle.modeling.config import ModelSettings, load_architecture
from tests.kedro_project import ROOT, config_loader


def env_params(env: str) -> dict:
    return config_loader(env)["parameters"]


def architectures() -> dict:
    """`architecture_configs` as the catalog's PartitionedDataset gives it: name -> loader."""
    return {
        p.stem: (lambda p=p: yaml.safe_load(p.read_text()))
        for p in (ROOT / "conf/base/architectures").glob("*.yml")
    }


def plan_of(env: str, measured: dict | None = None):
    """`make_plan` on the environment's parameters, from the project root as `kedro run` is (accelerate
    config paths are relative to it)."""
    from llm_lifecycle.pipelines.plan.nodes import make_plan

    params = env_params(env)
    params["plan"].get("api", {})["cache_dir"] = None  # replies a user's own runs cached would be counted
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        return make_plan(params, architectures(), measured or {})


@pytest.fixture(scope="module")
def llama3_plan():
    table, article, metrics = plan_of("llama3_8b")
    return table.set_index(["stage", "setup"]), article, metrics


def test_llama3_8b_plan_has_the_hand_worked_memory(llama3_plan):
    table, _, _ = llama3_plan
    sft = table.loc[("sft", "1 x A100-80GB")]
    assert sft["weights_gb"] == pytest.approx(16.060522496)  # 8,030,261,248 bf16 weights
    assert sft["trainable_state_gb"] == pytest.approx(16 * 41_943_040 / 1e9)  # LoRA r=16, all linear
    assert sft["fits"] and sft["to_fit"] == ""  # fits: nothing to change
    # 4 x 2048 tokens with checkpointing (configured) and without: tests/planning/test_memory.py's hand
    # values, plus LoRA dropout's bool masks on CUDA (1 byte per adapted input, 6·4096 + 14336 per layer)
    mask = 4 * 2048 * (6 * 4096 + 14336)
    assert (
        sft["activations_gb"]
        == sft["activations_checkpointing_gb"]
        == pytest.approx(8.905261056 + mask / 1e9)
    )
    assert sft["activations_no_checkpointing_gb"] == pytest.approx(81.7995776 + 32 * mask / 1e9)
    fsdp = table.loc[("sft", "8 x H100-SXM")]
    assert fsdp["devices_used"] == 8 and fsdp["weights_gb"] == pytest.approx(16.060522496 / 8)
    # generation and the single-process trainers use one GPU of the eight
    assert table.loc[("rlhf", "8 x H100-SXM"), "devices_used"] == 1
    # RLOO holds the policy and the reward model (the LM head replaced by a 4096 x 1 score head), bf16
    reward_model = 8_030_261_248 - 128256 * 4096 + 4096
    assert table.loc[("rlhf", "1 x A100-80GB"), "weights_gb"] == pytest.approx(
        16.060522496 + 2 * reward_model / 1e9
    )


def test_llama3_8b_plan_counts_teacher_and_judge_calls_at_the_parameters_prices(llama3_plan):
    table, _, metrics = llama3_plan
    prefs, bench = table.loc[("preferences", "1 x A100-80GB")], table.loc[("mt_bench", "1 x A100-80GB")]
    assert prefs["api_calls"] == 2000  # one teacher call per preference prompt
    assert prefs["api_usd"] == pytest.approx(2000 * (250 * 30 + 400 * 60) / 1e6)  # $63
    # single grading: 4 models x 80 questions x 2 turns; pairwise: 4 pairs x 80 x 2 turns x 2 orders
    assert bench["api_calls"] == 4 * 80 * 2 + 4 * 80 * 2 * 2
    assert bench["api_usd"] == pytest.approx(
        (640 * (1150 * 30 + 250 * 60) + 1280 * (1900 * 30 + 250 * 60)) / 1e6
    )
    assert metrics["1xA100-80GB/mt_bench/api_calls"]["value"] == 1920


def test_llama3_8b_sft_hours_are_flops_over_peak_times_mfu(llama3_plan):
    table, _, _ = llama3_plan
    sft = table.loc[("sft", "1 x A100-80GB")]
    cfg = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")
    tokens = 1000 * 4 * 1200  # steps x batch x positions per conversation (the plan's estimate)
    # LoRA with checkpointing: forward + recomputed forward + backward through frozen weights = 3
    # forwards (the calculator's training FLOPs are 3 forwards with weight gradients: the same count),
    # + 6 FLOPs per adapter weight
    flops = tokens * (training_flops_per_token(cfg, 1200) + 6 * 41_943_040)
    assert sft["train_flops"] == pytest.approx(flops)
    assert sft["hours"] == pytest.approx(flops / (312e12 * 0.3) / 3600)


def test_a_stage_that_does_not_fit_names_the_setting_that_would():
    from llm_lifecycle.parameters import schemas
    from llm_lifecycle.planning.devices import resolve_device
    from llm_lifecycle.planning.lifecycle import PlanSettings, lifecycle_stages

    params = env_params("llama3_8b")
    settings = {
        k: schemas()[k].validate_python(params[k])
        for k in ("sft", "dpo", "rlhf", "preferences", "mt_bench", "latency", "pretraining")
    }
    cfg = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")
    plan = PlanSettings.model_validate({**params["plan"], "stages": ["sft", "rlhf"]})
    (sft, rlhf), _ = lifecycle_stages(plan, cfg, settings, ROOT)
    l4 = resolve_device("L4")
    assert sft.fix(l4, 1, 0.1).startswith("4-bit")  # checkpointing is on already: 16 GB of bf16 weights
    no_ckpt = type(sft)(
        **{
            **sft.__dict__,
            "training": type(sft.training)(**{**sft.training.__dict__, "checkpointing": False}),
        }
    )
    a100 = resolve_device("A100-80GB")
    assert no_ckpt.fix(a100, 1, 0.1) == "sft.train.gradient_checkpointing: true"  # 92 GB of activations
    assert rlhf.fix(l4, 1, 0.1).startswith("4-bit")  # policy + reward model, 31 GB in bf16


def test_the_plan_warns_when_a_stage_does_not_fit(caplog):
    from llm_lifecycle.parameters import schemas
    from llm_lifecycle.planning.devices import resolve_device
    from llm_lifecycle.planning.lifecycle import PlanSettings, lifecycle_stages
    from llm_lifecycle.planning.plan import Efficiency, Setup, plan_table

    params = env_params("llama3_8b")
    settings = {k: schemas()[k].validate_python(params[k]) for k in ("sft", "pretraining")}
    cfg = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")
    stages, _ = lifecycle_stages(PlanSettings(stages=["sft"]), cfg, settings, ROOT)
    setup = Setup(resolve_device("L4"), 1, Efficiency(0.3, {1: 0.6}, "stated"), 0.8)
    with caplog.at_level("WARNING"):
        table = plan_table(stages, [setup], {}, headroom=0.1)
    assert not table["fits"][0] and table["memory_gb"][0] > 24
    assert "sft does not fit on 1 x L4" in caplog.text and "would fit with: 4-bit" in caplog.text


def test_article_numbers_recomputed():
    from llm_lifecycle.planning.article import article_table

    archs = {k: ModelSettings(**v()) for k, v in architectures().items()}
    table = article_table(archs, decode_context=512, mfu=0.4, gpu_hour_usd={"A100-80GB": 2.0})
    text = " ".join(table["plan"])
    # LLaMA-2-7B fp16: (6,738,415,616 − 131,072,000 embedding) x 2 bytes + 512 x 0.5 MiB, at 2.039 TB/s
    bound = 2.039e12 / ((6_738_415_616 - 32000 * 4096) * 2 + 512 * 524_288)
    assert f"bound {bound:.0f} tokens/s" in text and round(bound) == 151
    # LLaMA-65B: 6 x 65.29e9 x 1.4e12 FLOPs in 2048 x 21 x 24 A100-hours: 47% MFU
    mfu = f"MFU {6 * 65_285_660_672 * 1.4e12 / (2048 * 21 * 86400 * 312e12):.0%}"
    assert mfu == "MFU 47%" and mfu in text
    assert "17,179,869,184 bytes = 16 GiB" in text  # the article's own product, not 8 GB
    assert "two months means MFU 18%" in text


def test_this_machine_runs_at_the_efficiency_the_last_run_measured():
    import pandas as pd

    from llm_lifecycle.planning.devices import resolve_device
    from llm_lifecycle.planning.plan import measured_efficiency, versus_measured

    measured = {
        "ceiling.gflops": 200.0,
        "ceiling.bandwidth_gbs": 20.0,
        "pretraining.tokens_per_s": 10_000.0,
        "pretraining.flops_per_token": 8e6,
        "latency/dpo/bs1/overhead_share": 0.95,
        "latency/dpo/bs16/overhead_share": 0.9,
        "sft.wall_s": 36.0,
    }
    device = resolve_device("this_machine", measured)
    assert device.flops == 200e9 and device.is_cpu
    eff = measured_efficiency(measured, device, [])
    assert eff.mfu == pytest.approx(0.4)  # 80 GFLOP/s achieved of 200
    assert eff.mbu_at(1) == pytest.approx(0.05) and eff.mbu_at(12) == pytest.approx(0.1)  # nearest batch
    table = pd.DataFrame([{"stage": "sft", "device": "this_machine", "devices": 1, "hours": 0.02}])
    assert versus_measured(table, measured, "this_machine")["predicted_over_measured"][0] == pytest.approx(
        2.0
    )
    with pytest.raises(ValueError, match="needs the ceilings a run measures"):
        resolve_device("this_machine", {})


def test_cached_replies_are_counted_and_not_paid_twice(tmp_path):
    from llm_lifecycle.planning.plan import ApiCalls, ApiPrice, api_rows, cache_census

    for i in range(3):
        entry = {
            "request": {"model": "gpt-4-0613"},
            "usage": {"prompt_tokens": 100 + i, "completion_tokens": 10},
        }
        (tmp_path / f"a{i}").mkdir()
        (tmp_path / f"a{i}" / f"k{i}.json").write_text(json.dumps(entry))
    census = cache_census(tmp_path)
    assert census.replies == {"gpt-4-0613": 3} and census.input_tokens["gpt-4-0613"] == 101
    calls = [ApiCalls("preferences", "gpt-4-0613", 5, 500, 50)]
    rows = api_rows(calls, {"gpt-4-0613": ApiPrice(30, 60)}, census)["preferences"]
    # the cache's measured mean usage replaces the estimate; 3 of 5 calls answered by the cache
    assert rows["api_cached"] == 3 and rows["api_usd"] == pytest.approx(2 * (101 * 30 + 10 * 60) / 1e6)
    with pytest.raises(ValueError, match="no price for model 'claude'.*plan.prices.api.claude"):
        api_rows([ApiCalls("mt_bench", "claude", 1, 1, 1)], {}, census)


def test_pretrain_124m_plan_uses_gpt2s_vocabulary_and_the_configured_global_batch():
    table, _, _ = plan_of("pretrain_124m")
    row = table.set_index("setup").loc["8 x H100-SXM"]
    assert row["stage"] == "pretraining" and row["devices_used"] == 8
    # 121 M parameters with a 50,257-token tied embedding, trained in fp32 under bf16 autocast: 18 bytes each
    cfg = ModelSettings(
        vocab_size=50257,
        hidden_size=768,
        n_layers=12,
        n_heads=12,
        n_kv_heads=4,
        intermediate_size=2304,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    from llm_lifecycle.modeling.calculator import parameter_counts

    n = parameter_counts(cfg).total
    assert row["trainable_state_gb"] == pytest.approx(18 * n / 1e9)  # DDP: not sharded
    tokens = 4800 * 16 * 4 * 8 * 1024  # 2.5 B
    assert row["hours"] == pytest.approx(
        tokens * training_flops_per_token(cfg, 1024) / (8 * 989e12 * 0.3) / 3600
    )
    assert math.isclose(tokens, 2_516_582_400)


def test_the_ptx_term_adds_its_chosen_answers_to_rloos_work():
    """PPO-ptx trains on `ptx_batch_size` chosen answers (pair_tokens each) per micro-batch of completions,
    with no reference or reward-model forward for them."""
    from llm_lifecycle.parameters import schemas
    from llm_lifecycle.planning.lifecycle import PlanSettings, lifecycle_stages

    params = env_params("llama3_8b")
    settings = {
        k: schemas()[k].validate_python(params[k])
        for k in ("sft", "dpo", "rlhf", "preferences", "mt_bench", "latency", "pretraining")
    }
    cfg = load_architecture(ROOT / "conf/base/architectures/llama3_8b.yml")
    plan = PlanSettings.model_validate({**params["plan"], "stages": ["rlhf"]})
    rlhf = settings["rlhf"]
    train = rlhf.policy.train
    assert train.ptx_coef == 0.0  # plain RLOO at real scale
    (plain,), _ = lifecycle_stages(plan, cfg, settings, ROOT)
    with_ptx = train.model_copy(update={"ptx_coef": 4.0, "ptx_batch_size": 2})
    rlhf = rlhf.model_copy(update={"policy": rlhf.policy.model_copy(update={"train": with_ptx})})
    (ptx,), _ = lifecycle_stages(plan, cfg, settings | {"rlhf": rlhf}, ROOT)
    # completions: epochs x k x training pairs; sequences of prompt + max_completion_length tokens
    completions = 1 * train.num_generations * plan.data.preference_pairs * (1 - rlhf.val_fraction)
    seq = math.ceil(plan.data.prompt_tokens) + train.max_completion_length
    assert plain.training.tokens == pytest.approx(completions * seq)
    demos = completions / train.batch_size * 2
    assert ptx.training.tokens == pytest.approx(completions * seq + demos * plan.data.pair_tokens)
    assert ptx.training.reference_tokens == plain.training.reference_tokens  # no reference forward for them
    assert ptx.train_flops() > plain.train_flops()


def test_the_toy_worlds_plan_counts_the_test_questions_its_world_makes():
    """conf/base's plan reads the question count from `toy_world`; llama3_8b's counts MT-Bench's own 80."""
    base = env_params("local")
    questions = base["toy_world"]["instructions"]["n_mt_bench"]
    assert base["plan"]["data"]["mt_bench_questions"] == questions == 160
    assert env_params("llama3_8b")["plan"]["data"]["mt_bench_questions"] == 80
