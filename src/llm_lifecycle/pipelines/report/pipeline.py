"""`report`: one HTML page with every stage's headline numbers and plots, last node of the default run.

Its inputs are versioned files (the stages' metrics included), so `kedro run --pipelines report` alone
rebuilds the page from the stored results; `node_times` and `run_lineage` describe the run itself.
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
    "node_times": "node_times",
    "lineage": "run_lineage",
    "plan": "plan_table_if_any",  # the newest `kedro run --pipelines plan`, None before one
    "plan_article": "plan_article_if_any",
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
