"""ADMM-NN compression: projections onto the pruning and quantization constraint sets."""
