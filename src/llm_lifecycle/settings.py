"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

from kedro.config import OmegaConfigLoader

from llm_lifecycle.hooks import MissingInputsHooks, MlflowArtifactHooks, ReproducibilityHooks

HOOKS = (MissingInputsHooks(), ReproducibilityHooks(), MlflowArtifactHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Soft merge: `--params a.b=1` or an environment overriding one key keeps its siblings.
    "merge_strategy": {"parameters": "soft", "catalog": "soft"},
    "config_patterns": {
        "mlflow": ["mlflow*", "mlflow*/**", "**/mlflow*"],
    },
}
