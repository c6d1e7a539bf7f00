"""`from_raw_data`: the data stage on raw documents you bring (filtering, then the tokenizer report)."""

from llm_lifecycle.pipelines.from_raw_data.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
