"""`foreign_warnings`: the warnings meant for other packages go quiet, every other warning stays."""

from __future__ import annotations

import warnings

from llm_lifecycle.foreign_warnings import ignore_foreign_warnings


def test_only_the_listed_warnings_are_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ignore_foreign_warnings()
        # the messages as omegaconf 2.4 and transformers 5 word them
        warnings.warn("register_new_resolver() is deprecated and will be removed", UserWarning, stacklevel=1)
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6", FutureWarning, 1)
        # the same words under another category, and other warnings, still warn
        warnings.warn("`is_gradient_checkpointing` is deprecated", UserWarning, stacklevel=1)
        warnings.warn("register_resolver() is deprecated", UserWarning, stacklevel=1)
        warnings.warn("`use_cache=True` is incompatible with gradient checkpointing", UserWarning, 1)
    assert [str(w.message) for w in caught] == [
        "`is_gradient_checkpointing` is deprecated",
        "register_resolver() is deprecated",
        "`use_cache=True` is incompatible with gradient checkpointing",
    ]
