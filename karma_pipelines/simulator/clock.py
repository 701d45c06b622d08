"""Simulated time: integer seconds since the world's start (UTC midnight), and working hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

MINUTE = 60
HOUR = 3600
DAY = 86400
WORK_START, WORK_END = 8, 19  # [08:00, 19:00) UTC on weekdays counts as working hours


class Clock:
    """Converts simulated seconds to calendar facts and ISO timestamps."""

    def __init__(self, start: str, days: int) -> None:
        self.start = datetime.fromisoformat(start).replace(tzinfo=UTC)
        self.days = days
        self.end = days * DAY
        self._weekday0 = self.start.weekday()
        self._dates: dict[int, str] = {}  # day index -> `YYYY-MM-DD`
        self._midnight = self.start.hour == self.start.minute == self.start.second == 0

    def _date(self, day: int) -> str:
        date = self._dates.get(day)
        if date is None:
            date = self._dates[day] = (self.start + timedelta(days=day)).strftime("%Y-%m-%d")
        return date

    def iso(self, t: int) -> str:
        """`YYYY-MM-DDTHH:MM:SSZ` (from a UTC-midnight start, the time of day is `t % DAY`)."""
        if not self._midnight:
            return (self.start + timedelta(seconds=int(t))).strftime("%Y-%m-%dT%H:%M:%SZ")
        day, second = divmod(int(t), DAY)
        hour, second = divmod(second, HOUR)
        minute, second = divmod(second, MINUTE)
        return f"{self._date(day)}T{hour:02d}:{minute:02d}:{second:02d}Z"

    def day_name(self, t: int) -> str:
        return self._date(int(t) // DAY)

    def hour(self, t: int) -> int:
        return (int(t) % DAY) // HOUR

    def weekday(self, t: int) -> int:
        """0 = Monday."""
        return (self._weekday0 + int(t) // DAY) % 7

    def is_weekend(self, t: int) -> bool:
        return self.weekday(t) >= 5

    def is_off_hours(self, t: int) -> bool:
        """Outside 08:00-19:00 on any day (weekends are a separate fact)."""
        return not WORK_START <= self.hour(t) < WORK_END


def time_of_day(rng: np.random.Generator, weekend: bool, off_hours_share: float = 0.12) -> int:
    """Seconds into a day at which an engineer acts: mostly working hours, sometimes not."""
    if weekend:
        return int(rng.integers(9 * HOUR, 23 * HOUR))
    if rng.random() < off_hours_share:
        # Evenings are likelier than the small hours.
        if rng.random() < 0.7:
            return int(rng.integers(WORK_END * HOUR, 24 * HOUR))
        return int(rng.integers(0, WORK_START * HOUR))
    # A gentle mid-day peak: the mean of two uniforms.
    lo, hi = WORK_START * HOUR + 30 * MINUTE, WORK_END * HOUR - 30 * MINUTE
    return int((rng.integers(lo, hi) + rng.integers(lo, hi)) // 2)


def during_work(rng: np.random.Generator, clock: Clock, t: int, keep_share: float = 0.15) -> int:
    """`t`, or (most of the time) the next working-hours moment at or after it."""
    if (not clock.is_weekend(t) and not clock.is_off_hours(t)) or rng.random() < keep_share:
        return int(t)
    day = int(t) // DAY
    if clock.hour(t) >= WORK_START:
        day += 1
    while clock.is_weekend(day * DAY):
        day += 1
    return day * DAY + time_of_day(rng, weekend=False, off_hours_share=0.0)
