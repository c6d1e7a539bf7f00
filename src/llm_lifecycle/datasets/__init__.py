"""Project-owned Kedro datasets: strict JSON Lines and versioned `save_pretrained` directories."""

from llm_lifecycle.datasets.hf_pretrained import HFPretrainedDataset
from llm_lifecycle.datasets.jsonl import JSONLinesDataset, Records

__all__ = ["HFPretrainedDataset", "JSONLinesDataset", "Records"]
