"""`tokenizer`: byte-level BPE + Saiga chat template, and a report on held-out text."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.tokenizer import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.train_tokenizer,
                inputs=["filtered_documents", "params:tokenizer"],
                outputs="tokenizer",
                name="train_tokenizer",
            ),
            Node(
                nodes.report_tokenizer,
                inputs=["tokenizer", "filtered_documents", "params:tokenizer"],
                outputs=["tokenizer_stats", "tokenizer_word_splits", "tokenizer_metrics"],
                name="report_tokenizer",
            ),
        ],
        namespace="tokenizer",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
