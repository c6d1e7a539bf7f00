"""`mt_bench_validation`: the MT-Bench nodes on the validation questions, where settings are chosen.

The validation questions (`mt_bench_validation_questions`) are about people, cities, words and sums of
their own, disjoint from the test questions and from SFT and preference data. Learning rates, steps, β
and data sizes are chosen on the `validation/...` metrics this pipeline logs, never on `mt_bench/...`.
Same nodes as `mt_bench` (same answering settings, same judge); no plots.
"""

from functools import partial

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.mt_bench import nodes

QUESTIONS = "mt_bench_validation_questions"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.answer_as_base_model,
                inputs=[
                    QUESTIONS,
                    "base_model",
                    "tokenizer",
                    "params:sft.force_saiga_template",
                    "params:mt_bench",
                    "params:seed",
                ],
                outputs="validation_answers_base",
                name="answer_as_base_model",
            ),
            *[
                Node(
                    partial(nodes.answer_as_model, name),
                    inputs=[QUESTIONS, f"{name}_model", "params:mt_bench", "params:seed"],
                    outputs=f"validation_answers_{name}",
                    name=f"answer_as_{name}_model",
                )
                for name in ("sft", "dpo", "rlhf")
            ],
            Node(
                nodes.collect_mt_bench_answers,
                inputs=[*(f"validation_answers_{name}" for name in nodes.MODEL_INPUTS), "params:mt_bench"],
                outputs="validation_answers",
                name="collect_answers",
            ),
            Node(
                nodes.grade_single_answers,
                inputs=[QUESTIONS, "validation_answers", "judge_backend", "params:mt_bench"],
                outputs="validation_judgments",
                name="grade_single_answers",
            ),
            Node(
                nodes.judge_pairs,
                inputs=[QUESTIONS, "validation_answers", "judge_backend", "params:mt_bench"],
                outputs="validation_pairwise",
                name="judge_pairs",
            ),
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
