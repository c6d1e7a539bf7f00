"""`rlhf`: the classic path SFT -> reward model -> RL (RLOO), on the same preference pairs as DPO.

`kedro run --pipelines rlhf` needs `sft_model` and `preference_pairs` (from `sft` and `dpo`/`preferences`).
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.adapters import merge_adapter_into_model
from llm_lifecycle.pipelines.rlhf import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.train_reward_model,
                inputs=["sft_model", "preference_pairs", "params:rlhf", "params:seed"],
                outputs=["reward_model", "reward_model_pairs", "reward_margin_plot", "reward_model_metrics"],
                name="train_reward_model",
                tags=["reward_model"],
            ),
            Node(
                nodes.train_rlhf_policy,
                inputs=["sft_model", "reward_model", "preference_pairs", "params:rlhf", "params:seed"],
                outputs=["rlhf_adapter", "rlhf_metrics"],
                name="train_rlhf_policy",
                tags=["policy"],
            ),
            Node(
                merge_adapter_into_model,
                inputs="rlhf_adapter",
                outputs="rlhf_model",
                name="merge_rlhf_adapter",
                tags=["policy"],
            ),
        ],
        namespace="rlhf",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
