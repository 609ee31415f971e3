"""An array spectrometer: its driver and its simulator (`sim://spectrometer`).

The command set is documented in `devices.spectrometer.driver`; the simulator lives in
`devices.spectrometer.simulator` and is loaded on first use of a `sim://spectrometer` URL.
"""

from devices.spectrometer.driver import (
    MAX_COUNTS,
    MAX_INTEGRATION_MS,
    MIN_INTEGRATION_MS,
    Spectrometer,
)

__all__ = ["MAX_COUNTS", "MAX_INTEGRATION_MS", "MIN_INTEGRATION_MS", "Spectrometer"]
