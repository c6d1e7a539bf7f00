"""`report` pipeline: the run's report card."""

from llm_lifecycle.pipelines.report.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
