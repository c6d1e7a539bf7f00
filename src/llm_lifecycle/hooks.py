"""Project hooks: make every run deterministic and quiet before any node starts."""

from __future__ import annotations

import logging
import os
import random

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class ReproducibilityHooks:
    """Seed Python/NumPy (and torch when it is installed) from `params:seed`, and keep HF offline-safe."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # Nothing may wait on a prompt or phone home in CI; these are the documented opt-outs.
        os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        try:
            seed = int(catalog.load("params:seed"))
        except Exception:  # noqa: BLE001 - a project without a seed parameter still runs
            return
        random.seed(seed)
        try:
            import numpy as np

            np.random.seed(seed)
        except ImportError:
            pass
        try:
            import torch

            torch.manual_seed(seed)
        except ImportError:
            pass
        logger.info("Seeded python/numpy/torch with %d", seed)
