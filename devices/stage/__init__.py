"""A motorised XY stage controller: its driver and its simulator (`sim://stage`)."""

from devices.stage.driver import (
    MAX_COORDINATE,
    MAX_SPEED,
    MIN_COORDINATE,
    MIN_SPEED,
    StageController,
    StageLimits,
    StageReportedError,
)

__all__ = [
    "MAX_COORDINATE",
    "MAX_SPEED",
    "MIN_COORDINATE",
    "MIN_SPEED",
    "StageController",
    "StageLimits",
    "StageReportedError",
]
