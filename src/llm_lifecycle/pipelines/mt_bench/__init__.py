"""`mt_bench` pipeline."""

from llm_lifecycle.pipelines.mt_bench.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
