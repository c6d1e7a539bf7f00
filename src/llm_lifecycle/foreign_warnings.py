"""Deprecation warnings meant for other packages, silenced in the processes that run the project's code.

Each is raised inside one dependency by another dependency's call, on every run, a screenful each in the
console log, and nothing in this project can act on it:

- omegaconf 2.4 deprecates `OmegaConf.register_new_resolver` (a UserWarning on every call); Kedro's config
  loader and kedro-mlflow's hook call it four times a run. The project's own resolver is registered under
  the new name (`config_loader.py`).
- transformers 5 deprecates `PreTrainedModel.is_gradient_checkpointing` (a FutureWarning); PEFT reads it
  whenever it wraps a model, TRL when it generates.

`ignore_foreign_deprecations()` runs in `settings.py` (every `kedro` command) and in each rank that
`accelerate launch` starts for SFT/DPO (`training.alignment.worker`). Every other warning still shows, and
the test suite checks that a whole default run's log holds none. pyproject.toml's pytest `filterwarnings`
lists the same messages for the test processes.
"""

from __future__ import annotations

import warnings

FOREIGN_DEPRECATIONS: tuple[tuple[str, type[Warning]], ...] = (
    (r"register_new_resolver\(\) is deprecated", UserWarning),
    (r"`is_gradient_checkpointing` is deprecated", FutureWarning),
)


def ignore_foreign_deprecations() -> None:
    """Ignore the warnings of `FOREIGN_DEPRECATIONS` in this process (regular expressions on the message)."""
    for message, category in FOREIGN_DEPRECATIONS:
        warnings.filterwarnings("ignore", message, category)
