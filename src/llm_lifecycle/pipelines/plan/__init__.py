"""`plan` pipeline."""

from llm_lifecycle.pipelines.plan.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
