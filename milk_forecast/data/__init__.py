"""Data layer: the raw input files, cleaning them into one monthly table, features, the synthetic sample."""
