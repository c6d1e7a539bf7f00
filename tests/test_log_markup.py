"""A log message that is not Rich markup prints as it is (`llm_lifecycle.log_markup`, conf/logging.yml)."""

from __future__ import annotations

import io
import logging

import pytest
import yaml
from rich.console import Console
from rich.errors import MarkupError
from rich.logging import RichHandler

from llm_lifecycle.log_markup import PlainUnlessMarkup
from tests.kedro_project import ROOT

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


def test_conf_logging_puts_the_filter_on_the_console_handler():
    config = yaml.safe_load((ROOT / "conf" / "logging.yml").read_text(encoding="utf-8"))
    assert config["handlers"]["rich"]["filters"] == ["plain_unless_markup"]
    assert config["filters"]["plain_unless_markup"]["()"] == "llm_lifecycle.log_markup.PlainUnlessMarkup"


def test_a_launch_log_in_an_error_prints_as_it_is_and_markup_still_renders():
    with pytest.raises(MarkupError):  # without the filter: out of logging, in place of the node's error
        _log("Node failed with error:\n%s", GLOO, with_filter=False)
    text, errors = _log("Node failed with error:\n%s", GLOO, with_filter=True)
    assert not errors and "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553]" in text
    text, errors = _log("Loading data from [dark_orange]%s[/dark_orange]", "tokenizer", with_filter=True)
    assert not errors and "Loading data from tokenizer" in text  # valid markup is still rendered
