"""The architecture report: the calculator's numbers for several configs, each held to the real model.

For every config (the project's default model and the real architectures under
`conf/base/architectures/`) the calculator's table (`calculator.report_table`) gets one more row: the
parameter count of the `transformers` model built from that config on the meta device (shapes only, no
memory even for 47 B parameters). A config whose calculator count differs from the model's stops the
report: a formula that disagrees with the model it describes is a bug, not a footnote.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from llm_lifecycle.modeling.calculator import analyze, report_table
from llm_lifecycle.modeling.config import ModelSettings

logger = logging.getLogger(__name__)


def architecture_report(
    configs: Mapping[str, ModelSettings], context: int | None, batch: int, dtypes: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, float]]:
    """(long table: config, quantity, value, unit, note; metrics `<config>.<quantity>`), each config at
    `context` tokens (None: its own max_position_embeddings), `batch` and the dtype `dtypes[name]`."""
    from llm_lifecycle.modeling.build import meta_numel

    tables, metrics = [], {}
    for name, cfg in configs.items():
        dtype = dtypes[name]
        table = report_table(cfg, context, batch, dtype)
        r = analyze(cfg, context, batch, dtype)
        built = meta_numel(cfg)
        if built != r.params.total:
            raise AssertionError(
                f"{name}: calculator says {r.params.total} parameters, the model has {built}"
            )
        table.loc[len(table)] = (
            "params: meta-device model",
            float(built),
            "params",
            "numel on the meta device",
        )
        tables.append(table.assign(config=name))
        metrics |= {
            f"{name}.params_total": r.params.total,
            f"{name}.params_active": r.params.active,
            f"{name}.kv_bytes_per_token": r.kv_bytes_per_token,
            f"{name}.kv_bytes_at_context": r.kv_bytes_total,
            f"{name}.gqa_ratio": r.gqa_ratio,
            f"{name}.train_flops_per_token": r.train_flops_per_token,
            f"{name}.decode_flops_per_token": r.decode_flops_per_token,
        }
        logger.info(
            "%s: %s parameters (%s active per token)", name, f"{r.params.total:,}", f"{r.params.active:,}"
        )
    report = pd.concat(tables, ignore_index=True)[["config", "quantity", "value", "unit", "note"]]
    return report, metrics
