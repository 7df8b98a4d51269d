"""Labeled videos as data: the catalog of a dataset (folders, CSV, UCF101, MMAction2), labeled segments of
long files, group-aware splits and summaries, and the synthetic datasets the tests and the demo use."""
