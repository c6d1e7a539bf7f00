"""`mt_bench`: answers of every model, single 1–10 grading, pairwise win rates, summary (tags split the two).

`kedro run --pipelines=mt_bench_judging` (= the nodes tagged `judging`) rejudges the stored answers.
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.mt_bench import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.generate_mt_bench_answers,
                inputs=[
                    "mt_bench_questions",
                    "base_model",
                    "tokenizer",
                    "sft_model",
                    "dpo_model",
                    "rlhf_model",
                    "params:mt_bench",
                    "params:seed",
                ],
                outputs="mt_bench_answers",
                name="generate_mt_bench_answers",
                tags=["answers"],
            ),
            Node(
                nodes.grade_single_answers,
                inputs=["mt_bench_questions", "mt_bench_answers", "judge_backend", "params:mt_bench"],
                outputs="mt_bench_judgments",
                name="grade_single_answers",
                tags=["judging"],
            ),
            Node(
                nodes.judge_pairs,
                inputs=["mt_bench_questions", "mt_bench_answers", "judge_backend", "params:mt_bench"],
                outputs="mt_bench_pairwise",
                name="judge_pairs",
                tags=["judging"],
            ),
            Node(
                nodes.summarize_mt_bench,
                inputs=["mt_bench_judgments", "mt_bench_pairwise", "params:mt_bench", "params:seed"],
                outputs=[
                    "mt_bench_scores",
                    "mt_bench_winrates",
                    "mt_bench_category_plot",
                    "mt_bench_winrate_plot",
                    "mt_bench_metrics",
                ],
                name="summarize_mt_bench",
                tags=["judging"],
            ),
        ],
        namespace="mt_bench",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
