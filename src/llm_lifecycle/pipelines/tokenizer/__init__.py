"""`tokenizer` pipeline."""

from llm_lifecycle.pipelines.tokenizer.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
