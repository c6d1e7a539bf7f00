"""`mt_bench_validation`: the MT-Bench nodes on the validation questions, where settings are chosen.

The validation questions (`mt_bench_validation_questions`) are about people, cities, words and sums of
their own, disjoint from the test questions and from SFT and preference data. Learning rates, steps, β
and data sizes are chosen on the `validation/...` metrics this pipeline logs, never on `mt_bench/...`.
Same nodes as `mt_bench` (same answering settings, same judge); no plots.
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.mt_bench import nodes
from llm_lifecycle.pipelines.mt_bench.pipeline import answering_nodes, judging_nodes

QUESTIONS = "mt_bench_validation_questions"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            *answering_nodes(QUESTIONS, "validation_answers"),
            *judging_nodes(QUESTIONS, "validation_answers", "validation_judgments", "validation_pairwise"),
            Node(
                nodes.summarize_validation,
                inputs=["validation_judgments", "validation_pairwise", "params:mt_bench", "params:seed"],
                outputs=["validation_scores", "validation_winrates", "validation_metrics"],
                name="summarize_validation",
            ),
        ],
        namespace="mt_bench_validation",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
