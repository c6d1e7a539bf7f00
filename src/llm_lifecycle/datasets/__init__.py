"""Project-owned Kedro datasets: strict JSON Lines, versioned `save_pretrained` directories, chat clients,
metrics kept as versioned files and logged to MLflow."""

from llm_lifecycle.datasets.chat_client import ChatClientDataset
from llm_lifecycle.datasets.hf_pretrained import HFPretrainedDataset
from llm_lifecycle.datasets.hub import HubDataset
from llm_lifecycle.datasets.jsonl import JSONLinesDataset, Records
from llm_lifecycle.datasets.lineage import LineageDataset
from llm_lifecycle.datasets.metrics import MetricsDataset, NodeTimesDataset

__all__ = [
    "ChatClientDataset",
    "HFPretrainedDataset",
    "HubDataset",
    "JSONLinesDataset",
    "LineageDataset",
    "MetricsDataset",
    "NodeTimesDataset",
    "Records",
]
