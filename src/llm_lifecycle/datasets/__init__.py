"""Project-owned Kedro datasets: strict JSON Lines, versioned `save_pretrained` directories, chat clients."""

from llm_lifecycle.datasets.chat_client import ChatClientDataset
from llm_lifecycle.datasets.hf_pretrained import HFPretrainedDataset
from llm_lifecycle.datasets.hub import HubDataset
from llm_lifecycle.datasets.jsonl import JSONLinesDataset, Records

__all__ = ["ChatClientDataset", "HFPretrainedDataset", "HubDataset", "JSONLinesDataset", "Records"]
