"""The llama3_8b environment's configuration as Kedro merges it: every stage's settings validate, the sizes
follow the data, and the settings that break on several GPUs are refused before anything loads."""

from __future__ import annotations

import pytest

from tests.kedro_project import ROOT, config_loader


@pytest.fixture(scope="module")
def params() -> dict:
    return config_loader("llama3_8b")["parameters"]


def test_every_post_training_stage_validates_with_the_environments_sizes(params):
    from llm_lifecycle.pipelines.dpo.nodes import DPOSettings
    from llm_lifecycle.pipelines.preferences.nodes import PreferencesSettings
    from llm_lifecycle.pipelines.rlhf.nodes import RLHFSettings
    from llm_lifecycle.pipelines.sft.nodes import SFTSettings
    from llm_lifecycle.splits import PromptHoldoutSettings

    sft = SFTSettings.model_validate(params["sft"])
    assert sft.force_saiga_template and sft.train.max_steps == 1000 and sft.train.max_length == 2048
    dpo = DPOSettings.model_validate(params["dpo"])
    dpo_train = dpo.train
    # one epoch of what survives (the trainer counts the steps), plain DPO, no precomputed reference
    assert dpo_train.max_steps is None and dpo_train.epochs == 1 and dpo_train.loss_types == ["sigmoid"]
    assert dpo_train.precompute_ref_log_probs is False
    rlhf = RLHFSettings.model_validate(params["rlhf"])
    assert rlhf.reward_model.train.max_steps is None and rlhf.policy.train.max_steps is None
    prefs = PreferencesSettings.model_validate(params["preferences"])
    assert prefs.student.max_new_tokens == 1024  # = the teacher's budget: both answers capped alike
    assert PromptHoldoutSettings.model_validate(params["preference_holdout"]).fraction == 0.05
    assert params["latency"]["models"] == ["dpo"] and params["latency"]["harness"]["prompt_tokens"] == 512


def test_a_precomputed_reference_on_several_ranks_is_refused_before_anything_loads(params):
    from llm_lifecycle.pipelines.dpo.nodes import DPOSettings

    eight_gpus = {**params["dpo"], "distributed": {**params["dpo"]["distributed"], "num_processes": 8}}
    assert DPOSettings.model_validate(eight_gpus).distributed.num_processes == 8
    eight_gpus["train"] = {**eight_gpus["train"], "precompute_ref_log_probs": True}  # a plain dict here
    with pytest.raises(ValueError, match="precompute_ref_log_probs: true does not work with"):
        DPOSettings.model_validate(eight_gpus)


def test_a_personal_key_in_conf_local_wins_over_the_environments_env_reference(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    loader = config_loader("llama3_8b", tmp_path / "conf")
    assert loader["credentials"]["openai"] == {"api_key": "sk-from-the-environment"}
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "conf/local/credentials.yml").write_text("openai:\n  api_key: sk-personal\n")
    loader = config_loader("llama3_8b", tmp_path / "conf")
    assert loader["credentials"]["openai"] == {"api_key": "sk-personal"}
    monkeypatch.delenv("OPENAI_API_KEY")
    (tmp_path / "conf/local/credentials.yml").unlink()
    loader = config_loader("llama3_8b", tmp_path / "conf")
    assert loader["credentials"]["openai"] == {"api_key": ""}  # resolves: SFT needs no key at all
    # `${oc.env:...}` still resolves in the catalog after the credentials' own loader ran
    assert loader["catalog"]["teacher_backend"]["client"]["base_url"] == "https://api.openai.com/v1"
