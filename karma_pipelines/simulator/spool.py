"""What a simulation streams to disk while it runs, so that a world of a million deploys is never held
in memory: each complete day's events (serialized, in time order) and the deploys' ground truth.

Both are written under a spool folder inside the world's folder and turned into the world's files
by `writer.write_world` (which adds the late and malformed lines); the spool is then removed.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from karma_pipelines.simulator.clock import DAY, Clock
from karma_pipelines.simulator.events import Event
from karma_pipelines.simulator.malformed import dumps
from karma_pipelines.simulator.state import DeployRecord

DEPLOYS_HEADER = [
    "deploy_id",
    "component",
    "deployed_at",
    "true_rollback_probability",
    "rolled_back",
    "causes",
]


class EventSpool:
    """`EventLog`'s sink: one file of JSON lines per complete UTC day (`YYYY-MM-DD.jsonl`)."""

    def __init__(self, folder: Path, clock: Clock) -> None:
        self.folder, self.clock = folder, clock
        folder.mkdir(parents=True, exist_ok=True)
        self.counts: dict[str, int] = {}  # file name -> lines

    def __call__(self, day: int, events: list[Event]) -> None:
        name = f"{self.clock.day_name(day * DAY)}.jsonl"
        lines = [dumps(e.body) for e in events]
        (self.folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.counts[name] = len(lines)

    def lines(self, name: str) -> list[str]:
        """The lines of one day, in time order (a JSON line never holds a raw newline)."""
        return (self.folder / name).read_text(encoding="utf-8").split("\n")[:-1]


class DeploySpool:
    """`ground_truth/deploys.csv`, row by row as deploys happen, in (time, deploy id) order: deploys
    arrive in time order, and those of one second are sorted by id when the clock moves on."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path, self.clock = path, clock
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow(DEPLOYS_HEADER)
        self._pending: list[DeployRecord] = []  # the deploys of the latest second
        self.count = 0

    def add(self, rec: DeployRecord) -> None:
        """A deploy, once its rollback (if any) is decided."""
        if self._pending and rec.t != self._pending[0].t:
            if rec.t < self._pending[0].t:
                raise AssertionError(f"{rec.deploy_id}: a deploy before the one already recorded")
            self._flush()
        self._pending.append(rec)
        self.count += 1

    def _flush(self) -> None:
        for r in sorted(self._pending, key=lambda r: r.deploy_id):
            self._csv.writerow([
                r.deploy_id, r.component, self.clock.iso(r.t), f"{r.p_rollback:.6f}",
                "true" if r.rollback_at is not None else "false", ";".join(r.causes),
            ])  # fmt: skip
        self._pending = []

    def close(self) -> None:
        if not self._fh.closed:
            self._flush()
            self._fh.close()


class Spool:
    """The spool folder of a world being simulated (`<out>/.simulator-spool`, removed on leaving the
    `with`, whatever happened)."""

    def __init__(self, out: Path, clock: Clock) -> None:
        self.folder = Path(out) / ".simulator-spool"
        shutil.rmtree(self.folder, ignore_errors=True)
        self.events = EventSpool(self.folder / "events", clock)
        self.deploys = DeploySpool(self.folder / "deploys.csv", clock)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.deploys.close()
        shutil.rmtree(self.folder, ignore_errors=True)
