"""`sft`: Saiga data checks and LoRA SFT of the base model (adapter and merged model in the catalog)."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.sft import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.prepare_sft_data,
                inputs=["raw_instructions", "tokenizer", "params:sft", "params:seed"],
                outputs=["sft_conversations", "sft_data_metrics"],
                name="prepare_sft_data",
            ),
            Node(
                nodes.train_sft_model,
                inputs=["base_model", "tokenizer", "sft_conversations", "params:sft", "params:seed"],
                outputs=["sft_adapter", "sft_model", "sft_metrics"],
                name="train_sft_model",
            ),
        ],
        namespace="sft",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
