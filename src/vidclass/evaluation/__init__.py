"""How good a model is, honestly: metrics with bootstrap intervals, calibration, segment (event) metrics,
regression scores, shortcut checks and near-duplicate leak detection across splits."""
