"""`preferences`: synthetic preference pairs (teacher chosen, SFT model rejected)."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.preferences import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.generate_preference_pairs,
                inputs=[
                    "preference_prompts",
                    "sft_model",
                    "teacher_backend",
                    "params:preferences",
                    "params:seed",
                    "params:preference_holdout",
                ],
                outputs=["preference_pairs", "preference_metrics"],
                name="generate_preference_pairs",
            ),
        ],
        namespace="preferences",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
