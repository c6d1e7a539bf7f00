"""`data_filtering`: quality filters, language id and dedup of raw web pages, scored against noise labels."""

from llm_lifecycle.pipelines.data_filtering.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
