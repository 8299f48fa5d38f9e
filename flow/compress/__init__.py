"""ADMM-NN compression (issue B): projections onto the pruning and quantization constraint sets."""
