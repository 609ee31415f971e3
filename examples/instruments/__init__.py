"""Things that serve the drivers in `devices`, on simulators by default."""
