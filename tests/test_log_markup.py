"""A log message that is not Rich markup prints as it is (`llm_lifecycle.log_markup`, conf/logging.yml)."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console
from rich.errors import MarkupError
from rich.logging import RichHandler

from llm_lifecycle.log_markup import PlainUnlessMarkup

# What a node's error quoted from a failed launch's log (gloo's source path in brackets).
GLOO = "[rank 1] RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] closed"


def _log(message: str, *args, with_filter: bool) -> tuple[str, str]:
    """(console text, what logging reported as its own error) for one record through a markup handler,
    as Kedro's `RichHandler` is (markup on)."""
    out = io.StringIO()
    handler = RichHandler(console=Console(file=out, width=300), markup=True)
    if with_filter:
        handler.addFilter(PlainUnlessMarkup())
    logger = logging.getLogger(f"test_log_markup.{with_filter}")
    logger.propagate, logger.handlers = False, [handler]
    errors = io.StringIO()
    handler.handleError = lambda record: errors.write(repr(record.msg))  # what logging would print
    logger.error(message, *args)
    return out.getvalue(), errors.getvalue()


def test_every_session_puts_the_filter_on_the_console_handlers():
    from llm_lifecycle.hooks import ConsoleLogHooks
    from llm_lifecycle.log_markup import filter_console_handlers
    from llm_lifecycle.settings import HOOKS

    assert any(isinstance(hook, ConsoleLogHooks) for hook in HOOKS)
    logger = logging.getLogger("test_log_markup.root")
    logger.handlers = [RichHandler(console=Console(file=io.StringIO())), logging.StreamHandler(io.StringIO())]
    assert filter_console_handlers(logger) == 1 and filter_console_handlers(logger) == 0  # once, Rich only
    rich, plain = logger.handlers
    assert [type(f) for f in rich.filters] == [PlainUnlessMarkup] and not plain.filters


def test_a_launch_log_in_an_error_prints_as_it_is_and_markup_still_renders():
    with pytest.raises(MarkupError):  # without the filter: out of logging, in place of the node's error
        _log("Node failed with error:\n%s", GLOO, with_filter=False)
    text, errors = _log("Node failed with error:\n%s", GLOO, with_filter=True)
    assert not errors and "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553]" in text
    text, errors = _log("Loading data from [dark_orange]%s[/dark_orange]", "tokenizer", with_filter=True)
    assert not errors and "Loading data from tokenizer" in text  # valid markup is still rendered
