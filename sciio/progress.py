"""A progress bar on stderr for long work, only when stderr is a terminal (never in pipes, logs or tests' captures).

``activity(text)`` yields a ``progress(done, total)`` callback to hand to the Workspace calls that report
(exact stats, bundle writes); work that does not report shows a spinner with the elapsed time instead.
Yields None when stderr is not a terminal, so the calls run exactly as without a bar.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Report = Callable[[int, int], None]


def wanted() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stderr
        return False


@contextmanager
def activity(text: str) -> Iterator[Report | None]:
    if not wanted():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(text, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield report
