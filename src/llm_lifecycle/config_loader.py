"""The project's config loader: Kedro's `OmegaConfigLoader`, plus `conf/local` credentials in every env.

Kedro merges `conf/base` with exactly one run environment, `local` by default. `kedro run --env
llama3_8b` therefore never reads `conf/local/credentials.yml`, and a user would have to copy their API
key into a second file. Here credentials are the exception: `conf/local/credentials*.yml` is read
whatever the environment, on top of the environment's own credentials (an entry of `conf/local` wins
over the environment's entry of the same name, as a personal override should). An environment's
tracked `credentials.yml` holds no secret, only `${oc.env:VAR,""}` references, so that a catalog entry
naming `credentials: openai` resolves with nothing but `OPENAI_API_KEY` exported. Nothing else changes;
secrets still come only from `conf/local` (git-ignored) or the process environment.

`${project_root:}` resolves to the folder holding `conf/`, so `conf/base/mlflow.yml` can name
`sqlite:///${project_root:}/mlflow.db`: kedro-mlflow makes relative *paths* absolute but leaves a
relative SQLite URI relative to the working directory, and a notebook kernel started in `notebooks/`
(`kedro jupyter`) would otherwise open an empty `notebooks/mlflow.db`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import OmegaConf

LOCAL_ENV = "local"


class ProjectConfigLoader(OmegaConfigLoader):
    def __init__(self, conf_source: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(conf_source, *args, **kwargs)
        root = str(Path(conf_source).resolve().parent)
        # Registered per loader (replace=True): one process may load several projects (tests do).
        register = (
            getattr(OmegaConf, "register_resolver", None) or OmegaConf.register_new_resolver
        )  # 2.4 / 2.3
        register("project_root", lambda: root, replace=True)

    def __getitem__(self, key: str) -> Any:
        if key != "credentials" or self.env in (None, LOCAL_ENV):
            return super().__getitem__(key)
        try:
            value = super().__getitem__(key)
        except MissingConfigException:
            value = {}  # none in base or the env: conf/local may still have some
        local_dir = Path(self.conf_source) / LOCAL_ENV
        if not local_dir.is_dir():
            if not value:
                raise MissingConfigException(f"no credentials in {self.conf_source} for env {self.env!r}")
            return value
        local = OmegaConfigLoader(
            conf_source=self.conf_source,
            env=LOCAL_ENV,
            base_env=self.base_env,
            default_run_env=LOCAL_ENV,
            config_patterns={"credentials": self.config_patterns["credentials"]},
            # A new OmegaConfigLoader clears `oc.env` globally; the catalog may still need it.
            custom_resolvers=self._custom_resolvers,
        )
        try:
            local_credentials = local["credentials"]
        except MissingConfigException:
            local_credentials = {}
        # That loader took over the process-wide `globals:` resolver (with conf/local's `data_dir`): give it
        # back, or this environment's catalog would resolve to another environment's data folder.
        self._register_globals_resolver()
        return {**value, **local_credentials}


def data_dir(loader: Any) -> str:
    """The environment's data folder, relative to the project: `data_dir` of its `globals.yml`, or `data`
    where an environment has none (Kedro gives an empty `globals` then)."""
    return loader["globals"].get("data_dir", "data")


def project_config_loader(project: str | Path, env: str | None = None) -> Any:
    """The config loader of the project in `project` for `env`, as `kedro run --env <env>` builds it there
    (for commands and scripts that read the configuration without a Kedro session)."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    project = Path(project)
    bootstrap_project(project)
    return settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / settings.CONF_SOURCE), env=env, **settings.CONFIG_LOADER_ARGS
    )
