"""The demo's progress lines on the terminal."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Say = Callable[[str], None]


def say(text: str) -> None:
    """Write a progress line to the terminal at once (make and pipes would buffer it)."""
    _terminal().write(f"{text}\n")


@functools.cache
def _terminal() -> TextIO:
    # A copy of stdout taken at the first line, before any run: a run in this process points
    # stdout at its step's log file (and echoes it back a moment later) while the step runs.
    return os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, errors="replace")


@contextmanager
def phase(name: str) -> Iterator[None]:
    """A heading line for a phase, and its duration once it ends."""
    say(f"== {name}")
    started = time.monotonic()
    yield
    say(f"   done in {time.monotonic() - started:.1f} s")
