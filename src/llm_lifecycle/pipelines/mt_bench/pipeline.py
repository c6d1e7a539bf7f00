"""`mt_bench`: answers of every model, single 1–10 grading, pairwise win rates, summary (tags split the two).

Each model answers in a node of its own (one model in memory at a time), then one table collects them.

`kedro run --pipelines=mt_bench_judging` (= the nodes tagged `judging`) rejudges the stored answers.
"""

from functools import partial

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.mt_bench import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.answer_as_base_model,
                inputs=[
                    "mt_bench_questions",
                    "base_model",
                    "tokenizer",
                    "params:sft.force_saiga_template",
                    "params:mt_bench",
                    "params:seed",
                ],
                outputs="mt_bench_answers_base",
                name="answer_as_base_model",
                tags=["answers"],
            ),
            *[
                Node(
                    partial(nodes.answer_as_model, name),
                    inputs=["mt_bench_questions", f"{name}_model", "params:mt_bench", "params:seed"],
                    outputs=f"mt_bench_answers_{name}",
                    name=f"answer_as_{name}_model",
                    tags=["answers"],
                )
                for name in ("sft", "dpo", "rlhf")
            ],
            Node(
                nodes.collect_mt_bench_answers,
                inputs=[*(f"mt_bench_answers_{name}" for name in nodes.MODEL_INPUTS), "params:mt_bench"],
                outputs="mt_bench_answers",
                name="collect_mt_bench_answers",
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
