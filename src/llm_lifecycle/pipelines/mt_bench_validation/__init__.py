"""`mt_bench_validation` pipeline: every model on the toy world's validation questions."""

from llm_lifecycle.pipelines.mt_bench_validation.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
