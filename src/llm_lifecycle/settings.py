"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

from omegaconf.resolvers import oc

from llm_lifecycle.config_loader import ProjectConfigLoader
from llm_lifecycle.foreign_warnings import ignore_foreign_warnings
from llm_lifecycle.hooks import (
    AllocatorHooks,
    ConsoleLogHooks,
    InterruptHooks,
    LineageHooks,
    MissingInputsHooks,
    MlflowArtifactHooks,
    NodeTimingHooks,
    ParameterValidationHooks,
    ReproducibilityHooks,
    RunTagsHooks,
)

# Warnings about Kedro's, kedro-mlflow's and PEFT's code, a screenful each in every run's log.
ignore_foreign_warnings()

HOOKS = (
    ConsoleLogHooks(),
    AllocatorHooks(),
    ParameterValidationHooks(),
    MissingInputsHooks(),
    ReproducibilityHooks(),
    MlflowArtifactHooks(),
    RunTagsHooks(),
    LineageHooks(),
    InterruptHooks(),
    NodeTimingHooks(),
)

# OmegaConfigLoader that also reads conf/local/credentials.yml under `--env llama3_8b` (see the module).
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Parameters merge softly: `--params a.b=1` or an environment overriding one key keeps its siblings.
    # Catalog entries do not: an environment's entry replaces the base one whole (a hub HFDataset must not
    # inherit the base JSONL entry's `filepath`), as in Kedro's default.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
    # `${oc.env:VAR,default}` in every file, not only credentials: an OpenAI-compatible endpoint is
    # chosen with OPENAI_BASE_URL (the `openai` SDK's variable) without editing the catalog.
    "custom_resolvers": {"oc.env": oc.env},
}
