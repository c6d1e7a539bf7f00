"""Log messages that are not Rich markup print as they are.

Kedro's console handler (`kedro.logging.RichHandler`) reads every message as Rich markup, so a message
holding text such as `[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553]` (the tail of
a failed launch's log, quoted in the node's error) raised `MarkupError` inside logging: the run then
ended on that, and the error it was reporting was lost. `PlainUnlessMarkup` marks such a record
`markup=False`, which rich's handler honours record by record; messages that are valid markup (Kedro's
coloured dataset names) are left alone. `filter_console_handlers` puts it on the root logger's Rich
handlers, which `hooks.ConsoleLogHooks` does when a session starts (Kedro refuses a `()` factory in
conf/logging.yml, and a handler class from the project's own module unless the user allows the module).
"""

from __future__ import annotations

import logging

from rich.errors import MarkupError
from rich.logging import RichHandler
from rich.markup import render


class PlainUnlessMarkup(logging.Filter):
    """Let every record through; print the ones whose message is not valid Rich markup as plain text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "markup", None) is None:
            try:
                render(record.getMessage())
            except MarkupError:
                record.markup = False
            except Exception:  # noqa: BLE001 - a message logging cannot format is logging's to report
                pass
        return True


def filter_console_handlers(logger: logging.Logger | None = None) -> int:
    """Put `PlainUnlessMarkup` on each Rich handler of `logger` (the root logger) that lacks it; returns
    how many got it."""
    added = 0
    for handler in (logger or logging.getLogger()).handlers:
        has_it = any(isinstance(f, PlainUnlessMarkup) for f in handler.filters)
        if isinstance(handler, RichHandler) and not has_it:
            handler.addFilter(PlainUnlessMarkup())
            added += 1
    return added
