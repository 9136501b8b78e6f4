"""Logging set-up for rule scripts and command-line tools."""

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to(path: str | Path | None, level: int = logging.INFO) -> None:
    """Send ``logging`` records and uncaught exceptions to ``path`` and to stderr.

    Args:
        path: log file (the rule's ``log[0]``); ``None`` logs to stderr only.
        level: root logging level. Defaults to INFO.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w", encoding="utf-8"))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        logging.getLogger("uncaught").critical("%s", value, exc_info=(kind, value, tb))

    sys.excepthook = excepthook


@dataclass
class Duration:
    """How long a :func:`timed` step took, in seconds (set when the step ends)."""

    seconds: float = 0.0


@contextmanager
def timed(log: logging.Logger, what: str) -> Iterator[Duration]:
    """Log the start and the end of a long step, with its duration in seconds.

    Args:
        log: logger to write to.
        what: subject of the step, e.g. ``"results/onnx/mnist/model.onnx | export"``.

    Yields:
        The step's :class:`Duration`, filled in when the step ends.
    """
    log.info("%s | start", what)
    duration = Duration()
    start = time.perf_counter()
    yield duration
    duration.seconds = time.perf_counter() - start
    log.info("%s | done in %.2f s", what, duration.seconds)
