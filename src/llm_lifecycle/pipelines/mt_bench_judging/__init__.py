"""`mt_bench_judging` pipeline: rejudge the stored MT-Bench answers."""

from llm_lifecycle.pipelines.mt_bench_judging.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
