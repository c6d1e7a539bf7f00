"""`pretraining`: architecture report, packing, pretraining with resume and MFU, base-model evaluation."""

from kedro.pipeline import Node, Pipeline

from llm_lifecycle.pipelines.pretraining import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                nodes.report_architectures,
                inputs=["tokenizer", "params:pretraining", "architecture_configs"],
                outputs=["architecture_report", "architecture_metrics"],
                name="report_architectures",
            ),
            Node(
                nodes.pack_pretraining_data,
                inputs=["tokenizer", "filtered_documents", "params:pretraining"],
                outputs=["pretraining_blocks", "packing_metrics"],
                name="pack_pretraining_data",
            ),
            Node(
                nodes.pretrain_base_model,
                inputs=["pretraining_blocks", "tokenizer", "params:pretraining", "params:seed"],
                outputs=["base_model", "pretraining_metrics", "pretraining_log"],
                name="pretrain_base_model",
            ),
            Node(
                nodes.plot_pretraining,
                inputs="pretraining_log",
                outputs="pretraining_loss_plot",
                name="plot_pretraining",
            ),
            Node(
                nodes.evaluate_base_model,
                inputs=["base_model", "tokenizer", "params:pretraining", "params:seed", "params:toy_world"],
                outputs=["base_model_generations", "base_model_fact_eval", "base_model_eval_metrics"],
                name="evaluate_base_model",
            ),
        ],
        namespace="pretraining",  # one box per stage in kedro-viz; dataset names stay global
        prefix_datasets_with_namespace=False,
    )
