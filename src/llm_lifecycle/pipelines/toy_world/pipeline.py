"""`toy_world`: the embedded default's raw inputs, in the formats real data uses."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.toy_world import nodes


def create_pipeline(**kwargs) -> Pipeline:
    inputs = ["params:seed", "params:toy_world"]
    return Pipeline(
        [
            Node(nodes.make_documents, inputs, ["raw_documents", "noise_labels"], name="make_documents"),
            Node(nodes.make_instructions, inputs, "raw_instructions", name="make_instructions"),
            Node(nodes.make_preference_prompts, inputs, "preference_prompts", name="make_preference_prompts"),
            Node(nodes.make_mt_bench_questions, inputs, "mt_bench_questions", name="make_mt_bench_questions"),
            Node(
                nodes.make_validation_questions,
                inputs,
                "mt_bench_validation_questions",
                name="make_validation_questions",
            ),
        ],
        namespace="toy_world",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
