"""Data-filtering tests. `RULES`: the rule blocks in the order the chain runs them (one list for all)."""

RULES = (
    "language_id",
    "boilerplate",
    "symbols",
    "gopher_quality",
    "gopher_repetition",
    "c4_quality",
    "fineweb_quality",
)
