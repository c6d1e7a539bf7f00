"""Project pipelines. Heavy libraries (torch, transformers) are imported by nodes at run time only."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Stages of the default run, in order. Pipelines not listed (e.g. scaling_laws) run only by name.
# `dpo` contains the `preferences` stage (teacher chosen vs SFT rejected) and then DPO itself; `rlhf`
# (reward model + RLOO) trains on the same pairs.
DEFAULT_STAGES = (
    "toy_world",
    "data_filtering",
    "tokenizer",
    "pretraining",
    "sft",
    "dpo",
    "rlhf",
    "mt_bench",
    "mt_bench_validation",
    "latency",
    "report",
)


def register_pipelines() -> dict[str, Pipeline]:
    """Every `pipelines/<name>` by its name, and `__default__` (the lifecycle on the toy world).

    Every registered name is a module under `pipelines/`: `kedro run --pipelines X` loads only module X,
    so a name made up here would not be found."""
    pipelines = find_pipelines(raise_errors=True)
    stages = [pipelines[name] for name in DEFAULT_STAGES if name in pipelines]
    pipelines["__default__"] = sum(stages, Pipeline([]))
    return pipelines
