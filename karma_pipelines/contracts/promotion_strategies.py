"""What each promotion strategy is, from facts any event log shows: the one definition the simulator
(which plants their effects) and the estimator (`karma_pipelines.strategies`, which reads the log)
share.

A promotion to prod is put in the first class whose rule it meets:
1. `friday_evening`: deployed on a Friday from 16:00 UTC, or on a weekend;
2. `batch`: it carries two or more source deploys (`promotion` attrs `from_deploy_ids`);
3. `soak`: the source deploy had been live for at least `SOAK_HOURS`;
4. `clean_streak`: live for at least `STREAK_MIN_HOURS` and the source component's last
   `CLEAN_STREAK` deploys up to it (it included) all succeeded and none was rolled back before the
   promotion;
5. `immediate`: any other (promoted soon after the source deploy).

Its production health is read over the `FOLLOW_UP_DAYS` after it; a promotion is evaluated only when
`ELIGIBLE_DAYS` of history follow it (every rollback of it is then seen). The outcomes (`OUTCOMES`),
each the mean had every evaluated promotion used the strategy:
- `rollback_rate`: the share of promotions rolled back (at any delay);
- `restore_hours`: time to restore, the geometric mean of the hours from the promoted deploy to its
  rollback over the rolled-back promotions, `exp(E[R log H] / E[R])` (`R` rolled back, `H` hours, at
  least `MIN_RESTORE_HOURS`): restore delays are heavy-tailed (minutes to two weeks), and their
  arithmetic mean over a few dozen rollbacks is dominated by the longest few;
- `drifts_per_week`: drift.detected on the prod component per week of its window.
"""

from __future__ import annotations

STRATEGIES = ("immediate", "soak", "clean_streak", "friday_evening", "batch")
BASELINE = "immediate"
SOAK_HOURS = 72.0
STREAK_MIN_HOURS = 24.0
CLEAN_STREAK = 3
FRIDAY_EVENING_HOUR = 16
FRIDAY = 4  # Monday is 0
FOLLOW_UP_DAYS = 28  # drift is counted over this window (cut at the component's next promotion)
MIN_EXPOSURE_DAYS = 3.0  # a drift window shorter than this is left out of the drift rate
ELIGIBLE_DAYS = 35  # history needed after a promotion for it to be evaluated
OUTCOMES = ("rollback_rate", "restore_hours", "drifts_per_week")
MIN_RESTORE_HOURS = 1 / 60  # a faster restore counts as one minute (its log is finite)
LOWER_IS_BETTER = {"rollback_rate": True, "restore_hours": True, "drifts_per_week": True}


def classify(weekday: int, hour: int, soak_hours: float, n_batched: int, clean_streak: int) -> str:
    """The strategy class of one promotion: `weekday` (0 = Monday) and `hour` of its deploy (UTC),
    hours since the (latest) source deploy, source deploys carried, clean deploys in a row."""
    if weekday >= 5 or (weekday == FRIDAY and hour >= FRIDAY_EVENING_HOUR):
        return "friday_evening"
    if n_batched >= 2:
        return "batch"
    if soak_hours >= SOAK_HOURS:
        return "soak"
    if soak_hours >= STREAK_MIN_HOURS and clean_streak >= CLEAN_STREAK:
        return "clean_streak"
    return "immediate"
