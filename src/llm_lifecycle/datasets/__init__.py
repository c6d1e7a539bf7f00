"""Project-owned Kedro datasets: strict JSON Lines, documents as lazily read shards, versioned
`save_pretrained` directories, chat clients, metrics kept as versioned files and logged to MLflow."""

from llm_lifecycle.datasets.chat_client import ChatClientDataset
from llm_lifecycle.datasets.hf_pretrained import HFPretrainedDataset
from llm_lifecycle.datasets.hub import HubDataset, HubDocuments
from llm_lifecycle.datasets.jsonl import JSONLinesDataset, Records
from llm_lifecycle.datasets.lineage import LineageDataset
from llm_lifecycle.datasets.metrics import LastRunMetricsDataset, MetricsDataset, NodeTimesDataset
from llm_lifecycle.datasets.optional import OptionalDataset
from llm_lifecycle.datasets.shards import DocumentShards, DocumentShardsDataset, ShardFolder

__all__ = [
    "ChatClientDataset",
    "DocumentShards",
    "DocumentShardsDataset",
    "HFPretrainedDataset",
    "HubDataset",
    "HubDocuments",
    "JSONLinesDataset",
    "LastRunMetricsDataset",
    "LineageDataset",
    "MetricsDataset",
    "NodeTimesDataset",
    "OptionalDataset",
    "Records",
    "ShardFolder",
]
