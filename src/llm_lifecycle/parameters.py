"""Every parameter block of a run validated against its settings class before the first node starts.

Each node validates its own block (`SFTSettings.model_validate(params)`), but only when it runs: a typo in
`rlhf.policy.train` would surface after pretraining, SFT and DPO had run. `ParameterValidationHooks`
(registered in `settings.py`) validates, in Kedro's `before_pipeline_run`, every top-level block the
pipelines being run read (`params:sft`, `params:sft.force_saiga_template`, ... all count for `sft`), and
stops with every problem at once, each named by its dotted key and the file that sets it:

    parameters do not validate; nothing has run:
      - rlhf.policy.train.lrr: Extra inputs are not permitted (conf/base/parameters_rlhf.yml)

`SCHEMAS` maps each top-level key to its type; a test holds every `conf/*/parameters*.yml` to it, and
every top-level key must have one (`unvalidated_keys`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError


class ParameterError(ValueError):
    """Parameters that do not validate; the message names each key and the file that sets it."""


@cache
def schemas() -> dict[str, TypeAdapter]:
    """Top-level parameter key -> a pydantic adapter of its type (node modules import no torch)."""
    from llm_lifecycle.filtering.config import FilteringSettings
    from llm_lifecycle.pipelines.dpo.nodes import DPOSettings
    from llm_lifecycle.pipelines.latency.nodes import LatencySettings
    from llm_lifecycle.pipelines.mt_bench.nodes import MTBenchSettings
    from llm_lifecycle.pipelines.preferences.nodes import PreferencesSettings
    from llm_lifecycle.pipelines.pretraining.nodes import PretrainingSettings
    from llm_lifecycle.pipelines.rlhf.nodes import RLHFSettings
    from llm_lifecycle.pipelines.sft.nodes import SFTSettings
    from llm_lifecycle.planning.lifecycle import PlanSettings
    from llm_lifecycle.splits import PromptHoldoutSettings
    from llm_lifecycle.tokenization.train import TokenizerSettings
    from llm_lifecycle.toy_world.config import ToyWorldSettings
    from llm_lifecycle.training.pretraining.scaling import ScalingLawsSettings

    types: dict[str, Any] = {
        "seed": int,
        "scale": str,
        "preference_holdout": PromptHoldoutSettings | None,
        "toy_world": ToyWorldSettings,
        "data_filtering": FilteringSettings,
        "tokenizer": TokenizerSettings,
        "pretraining": PretrainingSettings,
        "scaling_laws": ScalingLawsSettings,
        "sft": SFTSettings,
        "preferences": PreferencesSettings,
        "dpo": DPOSettings,
        "rlhf": RLHFSettings,
        "mt_bench": MTBenchSettings,
        "latency": LatencySettings,
        "plan": PlanSettings,
    }
    return {key: TypeAdapter(tp) for key, tp in types.items()}


def unvalidated_keys(params: Mapping[str, Any]) -> list[str]:
    """Top-level parameter keys without a schema (a block no hook would check)."""
    return sorted(set(params) - set(schemas()))


def parameter_files(conf_dir: Path, env: str, base_env: str = "base") -> list[Path]:
    """The parameters files Kedro reads for `env`, base first (a later file overrides an earlier one)."""
    envs = [base_env] if env == base_env else [base_env, env]
    return [f for e in envs for f in sorted((conf_dir / e).glob("**/parameters*.yml"))]


def _has_key(data: Any, path: list[str]) -> bool:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return False
        data = data[part]
    return True


def where_set(dotted: str, files: Iterable[Path], runtime: Mapping[str, Any] | None, root: Path) -> str:
    """The file that sets `dotted` (or its deepest parent that exists anywhere), last one winning, or
    `--params` for a runtime value."""
    path = dotted.split(".")
    loaded = [(f, yaml.safe_load(f.read_text(encoding="utf-8")) or {}) for f in files]
    for depth in range(len(path), 0, -1):
        if runtime and _has_key(runtime, path[:depth]):
            return "--params"
        setting = [f for f, data in loaded if _has_key(data, path[:depth])]
        if setting:
            f = setting[-1]
            return str(f.relative_to(root)) if f.is_relative_to(root) else str(f)
    return "no parameters file sets it"


def validate_parameters(
    params: Mapping[str, Any],
    keys: Iterable[str],
    files: Iterable[Path],
    runtime: Mapping[str, Any] | None = None,
    root: Path = Path("."),
) -> None:
    """Validate `params[key]` for every top-level `key` that has a schema; raise `ParameterError` listing
    every problem (dotted key, what is wrong, the file that sets it)."""
    files = list(files)
    problems = []
    for key in sorted(set(keys)):
        adapter = schemas().get(key)
        if adapter is None or key not in params:
            continue
        try:
            adapter.validate_python(params[key])
        except ValidationError as exc:
            for error in exc.errors():
                dotted = ".".join([key, *(str(part) for part in error["loc"] if not str(part).isdigit())])
                problems.append(f"  - {dotted}: {error['msg']} ({where_set(dotted, files, runtime, root)})")
    if problems:
        raise ParameterError("parameters do not validate; nothing has run:\n" + "\n".join(problems))


def used_keys(pipeline_inputs: Iterable[str]) -> set[str]:
    """Top-level parameter keys a pipeline reads (`params:sft.train` -> `sft`; `parameters`: all)."""
    names = list(pipeline_inputs)
    if "parameters" in names:
        return set(schemas())
    return {n.removeprefix("params:").split(".")[0] for n in names if n.startswith("params:")}
