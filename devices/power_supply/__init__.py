"""An SCPI programmable DC power supply: the driver and its simulator (`sim://psu`)."""

from devices.power_supply.driver import PowerSupply, ScpiError
from devices.power_supply.simulator import PowerSupplySimulator

__all__ = ["PowerSupply", "PowerSupplySimulator", "ScpiError"]
