"""Model architecture: `ModelSettings` → `transformers` LLaMA/Mixtral model, and the architecture calculator.

`config` and `calculator` are torch-free; `build` imports torch/transformers only inside its functions, so
importing this package from a pipeline definition stays cheap.
"""

from llm_lifecycle.modeling.build import (
    build_model,
    build_timing_model,
    cpu_experts_implementation,
    from_hf_config,
    meta_numel,
    to_hf_config,
)
from llm_lifecycle.modeling.calculator import (
    ArchitectureReport,
    ParameterCounts,
    analyze,
    kv_cache_bytes,
    kv_cache_check,
    parameter_counts,
    report_table,
)
from llm_lifecycle.modeling.config import (
    ModelSettings,
    MoESettings,
    load_architecture,
    tiny_config,
    tiny_moe_config,
)

__all__ = [
    "ArchitectureReport",
    "ModelSettings",
    "MoESettings",
    "ParameterCounts",
    "analyze",
    "build_model",
    "build_timing_model",
    "cpu_experts_implementation",
    "from_hf_config",
    "kv_cache_bytes",
    "kv_cache_check",
    "load_architecture",
    "meta_numel",
    "parameter_counts",
    "report_table",
    "tiny_config",
    "tiny_moe_config",
    "to_hf_config",
]
