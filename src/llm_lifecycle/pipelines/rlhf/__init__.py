"""`rlhf` pipeline: Bradley-Terry reward model + RLOO policy optimisation from the SFT model."""

from llm_lifecycle.pipelines.rlhf.pipeline import create_pipeline  # find_pipelines looks here

__all__ = ["create_pipeline"]
