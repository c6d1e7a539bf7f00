"""`mt_bench`: answers of every model, single 1–10 grading, pairwise win rates, summary (tags split the two).

Each model answers in a node of its own (one model in memory at a time), then one table collects them.

`kedro run --pipelines=mt_bench_judging` (= the nodes tagged `judging`) rejudges the stored answers.
`mt_bench_validation` builds the same answering and judging nodes on the validation questions
(`answering_nodes`, `judging_nodes`).
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.mt_bench import nodes


def answering_nodes(questions: str, answers: str) -> list[Node]:
    """One node per model answering `questions` (outputs `<answers>_<model>`), then the table `answers`."""
    return [
        Node(
            nodes.answer_as_base_model,
            inputs=[
                questions,
                "base_model",
                "tokenizer",
                "params:sft.force_saiga_template",
                "params:mt_bench",
                "params:seed",
            ],
            outputs=f"{answers}_base",
            name="answer_as_base_model",
            tags=["answers"],
        ),
        *[
            Node(
                answer,
                inputs=[questions, f"{name}_model", "params:mt_bench", "params:seed"],
                outputs=f"{answers}_{name}",
                name=f"answer_as_{name}_model",
                tags=["answers"],
            )
            for name, answer in (
                ("sft", nodes.answer_as_sft_model),
                ("dpo", nodes.answer_as_dpo_model),
                ("rlhf", nodes.answer_as_rlhf_model),
            )
        ],
        Node(
            nodes.collect_mt_bench_answers,
            inputs=[*(f"{answers}_{name}" for name in nodes.MODEL_INPUTS), "params:mt_bench"],
            outputs=answers,
            name="collect_mt_bench_answers",
            tags=["answers"],
        ),
    ]


def judging_nodes(questions: str, answers: str, judgments: str, pairwise: str) -> list[Node]:
    """Single grading of `answers` into `judgments` and the pairs of `mt_bench.pairs` into `pairwise`."""
    return [
        Node(
            nodes.grade_single_answers,
            inputs=[questions, answers, "judge_backend", "params:mt_bench"],
            outputs=judgments,
            name="grade_single_answers",
            tags=["judging"],
        ),
        Node(
            nodes.judge_pairs,
            inputs=[questions, answers, "judge_backend", "params:mt_bench"],
            outputs=pairwise,
            name="judge_pairs",
            tags=["judging"],
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            *answering_nodes("mt_bench_questions", "mt_bench_answers"),
            *judging_nodes(
                "mt_bench_questions", "mt_bench_answers", "mt_bench_judgments", "mt_bench_pairwise"
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
