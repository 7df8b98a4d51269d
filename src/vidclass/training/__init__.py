"""Fitting: the Lightning modules and loop (a scikit-learn fit for the linear head), distributed training
and sharded extraction, and the run folder a fit writes into (staged, resumable, swapped in whole)."""
