"""`mt_bench_judging`: the judging nodes of `mt_bench` alone, on the answers already in the catalog.

For a new judge (`judge_backend`), more judge runs or other pairs without regenerating any answer.
"""

from kedro.pipeline import Pipeline

from llm_lifecycle.pipelines.mt_bench import create_pipeline as mt_bench_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return mt_bench_pipeline().only_nodes_with_tags("judging")
