"""Project pipelines. Heavy libraries (torch, transformers) are imported by nodes at run time only."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Stages of the default run, in order. Pipelines not listed (e.g. scaling_laws) run only by name.
DEFAULT_STAGES = ("toy_world", "data_filtering", "tokenizer")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipelines[name] for name in DEFAULT_STAGES if name in pipelines), Pipeline([])
    )
    return pipelines
