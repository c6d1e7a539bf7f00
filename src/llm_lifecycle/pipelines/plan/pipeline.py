"""`plan`: memory per device, hours and API cost of every stage of the environment, before a run.

Not in the default run: it reads no stage output, only parameters, the architecture files and what the
last run measured (`plan_measurements`, empty before any run), and takes seconds.
"""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.plan import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.make_plan,
                inputs=["parameters", "architecture_configs", "plan_measurements"],
                outputs=["plan_table", "plan_article", "plan_metrics"],
                name="make_plan",
            )
        ],
        namespace="plan",
        prefix_datasets_with_namespace=False,
    )
