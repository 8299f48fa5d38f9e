"""Sparse weight encoding (level codes plus relative indices) and its on-chip memory, in plain numpy."""
