"""Sizing a world by deploys: the components (over a fixed span of days) that give about n deploys.

A world's deploys grow with component-days: each component changes at a rate set by its weight
from the day it is created, so deploys are close to `DEPLOYS_PER_COMPONENT_DAY * components * days`
(measured on seed-7 worlds of 180 days: 240 components give 16,484 deploys, 296 give 19,376,
1,481 give 100,809 and 4,444 give 312,639: within about 5%, a little more in larger worlds).
`config_for_deploys` keeps the span (the default world's 180 days unless given) and scales the
organisation: more projects, services and components, the same habits.
"""

from __future__ import annotations

from typing import Any

from karma_pipelines.simulator import SimulationConfig

DEPLOYS_PER_COMPONENT_DAY = 0.375  # seed-7 worlds of 180 days
DEFAULT_DAYS = SimulationConfig.days


def components_for_deploys(deploys: int, days: int = DEFAULT_DAYS) -> int:
    """Components that, over `days`, give about `deploys` deploys (at least 3, a world's minimum)."""
    if deploys < 1:
        raise ValueError(f"deploys: {deploys} is not a positive number of deploys")
    if days < 1:
        raise ValueError(f"days: {days} is not a positive number of days")
    return max(3, round(deploys / (DEPLOYS_PER_COMPONENT_DAY * days)))


def config_for_deploys(deploys: int, days: int = DEFAULT_DAYS, **options: Any) -> SimulationConfig:
    """A `SimulationConfig` for a world of about `deploys` deploys over `days` days; `options` are
    the config's other fields (seed, promotion_habits, twins, ...)."""
    return SimulationConfig(components=components_for_deploys(deploys, days), days=days, **options)
