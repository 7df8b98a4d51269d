"""The models a user fits and loads: VideoClassifier and the regressors (scikit-learn estimators), fitting
on recordings and segments, the saved bundle, the stream protocol timelines drive, and the engine that runs
a bundle's exported graphs."""
