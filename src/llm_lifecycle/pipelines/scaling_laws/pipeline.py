"""`scaling_laws`: a model-size × token-budget sweep, L(N) / L(D) / L(N, D) fits, compute-optimal N.

Not part of `__default__`: it trains sizes × budgets models from scratch (a few CPU minutes). It needs
only the `tokenizer` and `filtered_documents` of an earlier run; it packs the corpus itself.
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.scaling_laws import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.run_scaling_sweep,
                inputs=["tokenizer", "filtered_documents", "params:scaling_laws", "params:seed"],
                outputs="scaling_law_runs",
                name="run_scaling_sweep",
            ),
            Node(
                nodes.fit_scaling_laws,
                inputs=["scaling_law_runs", "params:scaling_laws"],
                outputs=["scaling_law_fits", "scaling_law_metrics"],
                name="fit_scaling_laws",
            ),
            Node(
                nodes.plot_scaling_laws,
                inputs=["scaling_law_runs", "scaling_law_fits"],
                outputs="scaling_law_plot",
                name="plot_scaling_laws",
            ),
        ],
        namespace="scaling_laws",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
