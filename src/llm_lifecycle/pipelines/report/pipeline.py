"""`report`: one HTML page with every stage's headline numbers and plots, last node of the default run.

Its metric inputs are kedro-mlflow datasets that load from the active run, so the report describes the
run it is part of (and `--pipelines report` alone stops, naming the stages that produce them).
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.report import nodes

TABLES = {
    "funnel": "filter_funnel",
    "tokenizer_stats": "tokenizer_stats",
    "pretraining_log": "pretraining_log",
    "reward_pairs": "reward_model_pairs",
    "mt_bench_scores": "mt_bench_scores",
    "mt_bench_winrates": "mt_bench_winrates",
    "roofline": "roofline_table",
    "ceilings": "hardware_ceilings",
}
METRICS = {
    "filter_metrics": "filter_metrics",
    "pretraining_metrics": "pretraining_metrics",
    "base_model_eval_metrics": "base_model_eval_metrics",
    "sft_metrics": "sft_metrics",
    "preference_metrics": "preference_metrics",
    "dpo_metrics": "dpo_metrics",
    "reward_model_metrics": "reward_model_metrics",
    "rlhf_metrics": "rlhf_metrics",
}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.build_report_card,
                inputs={**TABLES, **METRICS},
                outputs="report_card",
                name="build_report_card",
                tags=["report"],
            )
        ],
        namespace="report",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
