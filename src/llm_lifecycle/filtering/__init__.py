"""Web-text filtering: datatrove's Gopher/C4/FineWeb blocks plus language id, boilerplate, symbols, dedup.

Modules: `config` (typed parameters), `rules` (blocks datatrove lacks), `dedup` (exact + MinHash),
`executors` (in-process loop or datatrove's LocalPipelineExecutor), `chain` (`run_filters`, the funnel),
`evaluation` (precision/recall against noise labels, funnel plot). Names below are imported lazily so that
importing the package (e.g. for `FilteringSettings`) does not load datatrove, spaCy or lingua.
"""

from __future__ import annotations

from llm_lifecycle.lazy_imports import lazy_exports

_MODULE_OF = {
    "FilteringSettings": "config",
    "run_filters": "chain",
    "FilterResult": "chain",
    "build_blocks": "chain",
    "build_dedup_blocks": "chain",
    "precision_recall": "evaluation",
    "funnel_plot": "evaluation",
}
__all__ = [
    "FilterResult",
    "FilteringSettings",
    "build_blocks",
    "build_dedup_blocks",
    "funnel_plot",
    "precision_recall",
    "run_filters",
]

__getattr__ = lazy_exports(__name__, {name: f"{__name__}.{m}" for name, m in _MODULE_OF.items()})
