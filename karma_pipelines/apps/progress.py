"""Progress of long CLI work, on stderr only: stage lines with their counts, a spinner while a stage
runs and a bar over loops that have one. On by default when stderr is a terminal, off otherwise;
`KARMA_PROGRESS=1` forces it on (plain lines, no animation, when stderr is not a terminal) and
`KARMA_PROGRESS=0` off. Never writes to stdout, so `--json` output stays one clean document."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

ENV = "KARMA_PROGRESS"
T = TypeVar("T")
_ON, _OFF = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def progress_enabled() -> bool:
    value = os.environ.get(ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    return sys.stderr.isatty()


class Progress:
    """What the CLI commands report while they work (a no-op when off)."""

    def __init__(self, on: bool | None = None, every: float = 5.0, heartbeat: float = 10.0):
        self.on = progress_enabled() if on is None else on
        self.console = Console(stderr=True, highlight=False, soft_wrap=True) if self.on else None
        self.animated = bool(self.console and self.console.is_terminal)
        self.every = every  # seconds between plain lines of a loop when not animated
        self.heartbeat = heartbeat  # seconds between `still …` lines of a stage when not animated
        self._start = time.monotonic()
        self._status = None
        self._current = ""

    def note(self, message: str) -> None:
        """One stage line: `  12.3s  message`."""
        if self.console is not None:
            elapsed = time.monotonic() - self._start
            self.console.print(f"[dim]{elapsed:6.1f}s[/dim]  {_escape(message)}")

    @contextmanager
    def stage(self, message: str) -> Iterator[None]:
        """A line when the stage starts and a spinner while it runs; the caller notes what it made."""
        self.note(f"{message}…")
        if not self.animated:
            with self._heartbeat(message):
                yield
            return
        with self.console.status(_escape(message)) as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None

    @contextmanager
    def _heartbeat(self, message: str) -> Iterator[None]:
        """Without a spinner, a `still …` line every `heartbeat` seconds of a long stage."""
        if self.console is None or self.heartbeat <= 0:
            yield
            return
        done, began = threading.Event(), time.monotonic()

        self._current = message

        def beat() -> None:
            while not done.wait(self.heartbeat):
                self.note(f"… still working: {self._current} ({time.monotonic() - began:.0f} s)")

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def update(self, message: str) -> None:
        """Change the running spinner's text (or what the next `still …` line says)."""
        self._current = message
        if self._status is not None:
            self._status.update(_escape(message))

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate with a bar on a terminal; forced on elsewhere, a line at most every `every` s."""
        if not self.on:
            yield from items
            return
        total = total if total is not None else (len(items) if hasattr(items, "__len__") else None)
        if self.animated:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Bar(*columns, console=self.console, transient=True) as bar:
                task = bar.add_task(_escape(description), total=total)
                for item in items:
                    yield item
                    bar.advance(task)
            return
        last = time.monotonic()
        for done, item in enumerate(items, start=1):
            yield item
            if time.monotonic() - last >= self.every:
                last = time.monotonic()
                self.note(f"{description} {done:,}" + (f"/{total:,}" if total else ""))


class StepReporter:
    """An instance event listener for one run: a progress line per step start, end and check."""

    def __init__(self, progress: Progress, shown: dict[str, list[str]], check_reason, error_reason):
        self.progress, self.shown = progress, shown
        self.check_reason, self.error_reason = check_reason, error_reason
        self.started: dict[str, float] = {}
        self.running: list[str] = []

    def __call__(self, entry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        p, step = self.progress, event.step_key
        if event.is_step_start:
            self.started[step] = time.monotonic()
            self.running.append(step)
            p.note(f"{step}…")
        elif event.is_step_success or event.is_step_failure or event.is_step_skipped:
            took = time.monotonic() - self.started.get(step, time.monotonic())
            if step in self.running:
                self.running.remove(step)
            if event.is_step_success:
                p.note(f"✓ {step} ({took:.1f} s)")
            elif event.is_step_failure:
                p.note(f"✗ {step} failed: {self.error_reason(event.step_failure_data.error)}")
            else:
                p.note(f"- {step} skipped")
        elif event.is_step_materialization:
            asset = event.asset_key.to_user_string()
            meta = event.step_materialization_data.materialization.metadata
            shown = [
                f"{k.removeprefix('dagster/')} {_num(meta[k].value)}"
                for k in self.shown.get(asset, [])
                if k in meta
            ]
            if shown:  # the step's own line says the rest (one per partition would be noise)
                p.note(f"  {asset}: {', '.join(shown[:5])}")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            verdict = "passed" if check.passed else f"FAILED: {self.check_reason(check)}"
            p.note(f"  check {check.check_name} {verdict}")
        p.update(f"running {', '.join(self.running)}" if self.running else "materializing")


def _num(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
