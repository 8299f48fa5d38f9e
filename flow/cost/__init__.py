"""The cost model: per-kernel estimates, break-even pruning, calibration against real reports, and a build's estimates."""
