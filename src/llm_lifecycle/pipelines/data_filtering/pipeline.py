"""`data_filtering`: raw_documents -> filtered/rejected documents + funnel; then precision/recall."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.data_filtering import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.filter_documents,
                inputs=["raw_documents", "params:data_filtering"],
                outputs=["filtered_documents", "rejected_documents", "filter_funnel"],
                name="filter_documents",
            ),
            Node(
                nodes.evaluate_filter,
                inputs=["rejected_documents", "filtered_documents", "noise_labels", "filter_funnel"],
                outputs=["filter_metrics", "filter_funnel_plot"],
                name="evaluate_filter",
            ),
        ],
        namespace="data_filtering",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
