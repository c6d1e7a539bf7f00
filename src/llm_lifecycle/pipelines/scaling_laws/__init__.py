"""`scaling_laws` pipeline (run by name only: `kedro run --pipelines=scaling_laws`)."""

from llm_lifecycle.pipelines.scaling_laws.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
