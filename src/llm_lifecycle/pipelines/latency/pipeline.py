"""`latency`: same-run ceilings, batch 1/4/16 latency and throughput, roofline regime and efficiency."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.latency import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.measure_ceilings,
                inputs="params:latency",
                outputs="hardware_ceilings",
                name="measure_ceilings",
            ),
            Node(
                nodes.benchmark_latency,
                # after the ceilings: both measured back to back, on the same quiet (or busy) machine
                inputs=["dpo_model", "hardware_ceilings", "params:latency", "params:seed"],
                outputs=["latency_results", "kv_cache_check"],
                name="benchmark_latency",
            ),
            Node(
                nodes.analyse_roofline,
                inputs=["latency_results", "hardware_ceilings"],
                outputs=["roofline_table", "roofline_plot", "latency_plot", "latency_metrics"],
                name="analyse_roofline",
            ),
        ],
        namespace="latency",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
