"""`dpo`: preference generation + DPO (what `kedro run --pipeline=dpo` runs, from the SFT model)."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.adapters import merge_adapter_into_model
from llm_lifecycle.pipelines.dpo import nodes
from llm_lifecycle.pipelines.preferences import create_pipeline as preferences_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return preferences_pipeline() + Pipeline(
        [
            Node(
                nodes.train_dpo_model,
                inputs=["sft_model", "preference_pairs", "params:dpo", "params:seed"],
                outputs=["dpo_adapter", "dpo_metrics"],
                name="train_dpo_model",
            ),
            Node(
                merge_adapter_into_model, inputs="dpo_adapter", outputs="dpo_model", name="merge_dpo_adapter"
            ),
        ],
        namespace="dpo",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
