"""Warnings meant for other packages, silenced in the processes that run the project's code.

Each is raised inside one dependency about another dependency's code, on every run, a screenful each in
the console log, and nothing in this project can act on it:

- omegaconf 2.4 deprecates `OmegaConf.register_new_resolver` (a UserWarning on every call); Kedro's config
  loader and kedro-mlflow's hook call it four times a run. The project's own resolver is registered under
  the new name (`config_loader.py`).
- transformers 5 deprecates `PreTrainedModel.is_gradient_checkpointing` (a FutureWarning); PEFT reads it
  whenever it wraps a model, TRL when it generates.

`ignore_foreign_warnings()` runs in `settings.py` (every `kedro` command: Kedro imports it before the
plugins' hooks and the config loader) and in each rank that `accelerate launch` starts for SFT/DPO
(`training.alignment.worker`). Every other warning still shows; the tests check that a whole default run's
log holds none and a new `kedro` process's no deprecation. `tests/conftest.py` adds the same list to pytest's
`filterwarnings` for the test processes.

One stays, at the top of a new `kedro` process's log: MLflow 3 asks every `mlflow.pyfunc.PythonModel`
subclass for type hints on `predict` when the class is defined, and kedro-mlflow's `KedroPipelineModel`
(imported with its command-line plugin) has none. MLflow warns under a filter of its own
(`simplefilter("once")` inside the call), which no filter set beforehand overrides.
"""

from __future__ import annotations

import warnings

FOREIGN_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (  # (regular expression on the message, category)
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning),
)


def ignore_foreign_warnings() -> None:
    """Ignore the warnings of `FOREIGN_WARNINGS` in this process."""
    for message, category in FOREIGN_WARNINGS:
        warnings.filterwarnings("ignore", message, category)
