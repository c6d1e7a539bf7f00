"""`sft`: Saiga data checks, LoRA SFT of the base model, and the adapter merged into it (`sft_model`)."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.adapters import merge_adapter_into_model
from llm_lifecycle.pipelines.sft import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.prepare_sft_data,
                inputs=[
                    "raw_instructions",
                    "tokenizer",
                    "params:sft",
                    "params:seed",
                    "params:preference_holdout",
                ],
                outputs=["sft_conversations", "sft_data_metrics"],
                name="prepare_sft_data",
            ),
            Node(
                nodes.train_sft_model,
                inputs=["base_model", "tokenizer", "sft_conversations", "params:sft", "params:seed"],
                outputs=["sft_adapter", "sft_metrics"],
                name="train_sft_model",
            ),
            Node(
                merge_adapter_into_model, inputs="sft_adapter", outputs="sft_model", name="merge_sft_adapter"
            ),
        ],
        namespace="sft",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
