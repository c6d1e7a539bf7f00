"""`toy_world` pipeline."""

from llm_lifecycle.pipelines.toy_world.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
