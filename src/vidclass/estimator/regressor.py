"""``VideoRegressor``: a number per video, from any model kind the classifier trains.

It sits on the estimator core (:class:`vidclass.estimator.core.VideoEstimator`) as ``VideoClassifier``
does, with the same parameters, so every seam estimates a number: a temporal head on cached frozen
features (``model="features"``; its inputs standardised per feature from the training set rather than
LayerNorm'd per frame, which would divide out how much moved: the regression task's head options) or a
clip model trained on pixels (``frame``, ``lrcn``, ``early_fusion``, ``3d``, ``convlstm``; a frame model
values a clip as the mean of its frames' values). One output, an MSE or Huber ``loss`` on standardised
targets, and a report of MAE, RMSE and R² with a predicted-vs-true scatter PNG. Its ``stream()`` gives
timelines a value per window (:mod:`vidclass.use.predict`). Targets are read by
:mod:`vidclass.data.targets` (a numeric CSV ``column``, or numeric folder names; with ``clips=`` long recordings
are cut into clips that carry their recording's number, and a segment CSV gives a number per segment, as
:mod:`vidclass.estimator.shapes` does for classes) and scored by
:mod:`vidclass.evaluation.regression_scores`. The bundle records ``task: regression`` and the target
scale, so it cannot be mistaken for a classifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import RegressorMixin

from vidclass.data.targets import Target, is_segments, number, read_targets, split_targets, target_catalog
from vidclass.errors import ConfigError, DatasetError, VidclassError
from vidclass.estimator.bundle import AnyBundle
from vidclass.estimator.core import VideoEstimator, safe_fingerprint
from vidclass.estimator.seams import Progress
from vidclass.estimator.shapes import WholeFiles, recording_shape
from vidclass.estimator.tasks import REGRESSION, Task
from vidclass.evaluation.regression_scores import RegressionEvaluation, regression_scores, write_evaluation

TASK = REGRESSION.name  # what a regression bundle's training record says
VALUE = "value"  # the name of a regression model's one output
DEFAULT_COLUMN = "target"

Targets = str | Path | list[Target]


class VideoRegressor(RegressorMixin, VideoEstimator):
    """A number per video (see the module doc; the parameters: :class:`vidclass.estimator.core.VideoEstimator`,
    with ``loss`` ``mse`` or ``huber`` and ``column`` the CSV column of the numbers)."""

    task: ClassVar[Task] = REGRESSION  # what its outputs are: one value per video

    def check_params(self) -> None:
        """The core's checks, and the settings that are classification's only, refused by name."""
        super().check_params()
        given = [name for name, value in (("label_smoothing", self.label_smoothing),
                                          ("class_weights", self.class_weights)) if value]
        if given:
            raise ConfigError(f"{', '.join(given)}: classification settings; a regressor takes loss mse or huber")

    def _targets(self, dataset: Targets) -> list[Target]:
        return dataset if isinstance(dataset, list) else read_targets(dataset, column=self._column())

    def _column(self) -> str:
        return self.column or DEFAULT_COLUMN

    def fit(self, dataset: Targets, y: None = None, *, out_dir: str | Path | None = None, resume: bool = False,
            overwrite: bool = False, on_video: Progress | None = None) -> VideoRegressor:
        """Train on a CSV / folder of numeric targets (or a list of :class:`Target`); returns self.

        With ``out_dir``: a run folder as a classifier's (:class:`vidclass.training.run_folder.RunFolder`: staged,
        ``resume`` from the last checkpoint, ``overwrite`` to replace a finished run) with config.json, the
        per-epoch metrics and curves, the model bundle (``model/``) and the test split's evaluation."""
        self.check_params()
        if not isinstance(dataset, list) and (self.clips is not None or is_segments(dataset)):
            from vidclass.data import catalog as catalog_

            found = catalog_.drop_unreadable(target_catalog(dataset, column=self._column()))
            return self._fit_shape(recording_shape(self, found), list(found.labels), out_dir=out_dir, resume=resume,
                                   overwrite=overwrite, on_video=on_video)
        targets = self._targets(dataset)
        parts, method = split_targets(targets, self.val, self.test, self.seed)
        shape = WholeFiles([t.path for t in targets], parts, lambda target: target.value,
                           config={"dataset": dataset_name(dataset)},
                           record={"dataset": dataset_name(dataset), "split": method, "split_seed": self.seed},
                           left_out={})
        return self._fit_shape(shape, [], out_dir=out_dir, resume=resume, overwrite=overwrite, on_video=on_video)

    # --- the task: numbers, their scale, scores -----------------------------------------

    def _learn_targets(self, labels: list[str], train: Sequence[str | float]) -> int:
        """The target scale (mean and standard deviation of the training numbers); returns the one output. A label
        that is not a number is refused by name."""
        for label in [*labels, *train]:
            if number(str(label)) is None:
                raise DatasetError(f"label {label!r} is not a number (a regressor's targets are numbers)")
        values = np.array([float(value) for value in train])
        self.target_mean_, self.target_std_ = float(values.mean()), float(values.std() or 1.0)
        self.labels_, self.temperature_ = [VALUE], 1.0
        return 1

    def _target(self, label: str | float) -> float:
        """What a training example labeled ``label`` is fitted to: the number, standardised."""
        return (float(label) - self.target_mean_) / self.target_std_

    def _task_record(self) -> dict[str, Any]:
        """What the training record says of the task: regression, its loss, column and target scale."""
        return {"task": TASK, "loss": self._loss(), "column": self._column(), "target_mean": self.target_mean_,
                "target_std": self.target_std_}

    def _score(self, val_raw: Callable[[], np.ndarray], val_labels: Sequence[str | float], test_raw: np.ndarray,
               test_labels: Sequence[str | float], *, groups: Sequence[str | None]) -> None:
        """MAE, RMSE and R² of the test part (no calibration: the values keep their scale, and the validation
        outputs are never computed)."""
        self.evaluation_ = (regression_scores(np.array([float(v) for v in test_labels]), self._scaled(test_raw))
                            if len(test_labels) else None)

    def _write_scores(self, out_dir: Path, raw: np.ndarray, labels: Sequence[str | float], *,
                      names: Sequence[str | Path], groups: Sequence[str | None] | None = None) -> None:
        """metrics.json, scatter.png and predictions.csv (name, true, predicted), one row per video or clip."""
        write_evaluation(out_dir, np.array([float(v) for v in labels]), self._scaled(raw), list(names))

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """What a user sees of standardised outputs (N, 1), in batch prediction and timelines alike: values in
        the target's units (N, 1)."""
        return raw * self.target_std_ + self.target_mean_

    def _scaled(self, raw: np.ndarray) -> np.ndarray:
        """Standardised outputs (N, 1) as the values (N,)."""
        return self._finish(raw)[:, 0]

    def predict_many(self, paths) -> tuple[np.ndarray, dict[str, str]]:
        """Values of the readable videos of ``paths`` (in order) and the reason per failed one."""
        self.check_fitted()
        paths = [Path(p) for p in paths]
        inputs, failed = self._inputs(paths)
        readable = [inputs[p] for p in paths if p in inputs]
        return (self._scaled(self._outputs(readable)) if readable else np.zeros(0)), failed

    def predict(self, paths) -> np.ndarray:
        """The estimated value of each video (an unreadable one raises naming it)."""
        values, failed = self.predict_many(paths)
        if failed:
            path, reason = next(iter(failed.items()))
            raise VidclassError(reason if path in reason else f"{path}: {reason}")
        return values

    def evaluate(self, dataset: Targets, *, out_dir: str | Path | None = None) -> RegressionEvaluation:
        """MAE, RMSE and R² on the videos of a dataset of numeric targets that the model never saw in training; with
        ``out_dir`` also metrics.json, scatter.png and predictions.csv (path, true, predicted).

        Videos whose content was used for training or early stopping, and videos of a group the model trained on,
        are left out (as a classifier's evaluation does), so evaluating on the training dataset scores exactly its
        held-back part; the notes say how many were left out."""
        self.check_fitted()
        targets = self._targets(dataset)
        seen, seen_groups = set(self.training_videos_), set(self.training_.get("groups", []))
        kept = [t for t in targets if (t.group is None or t.group not in seen_groups)
                and safe_fingerprint(t.path) not in seen]
        if not kept:
            raise VidclassError(f"{dataset_name(dataset)}: every video of this dataset was used in training; "
                                "nothing left to evaluate")
        notes = [f"{len(targets) - len(kept)} videos seen in training left out"] if len(kept) < len(targets) else []
        true = np.array([t.value for t in kept])
        predicted = self.predict([t.path for t in kept])
        if out_dir is not None:
            write_evaluation(Path(out_dir), true, predicted, [t.path for t in kept], notes=notes)
        scores = regression_scores(true, predicted)
        scores.notes = notes
        return scores

    def _set_fitted(self, bundle: AnyBundle) -> None:
        super()._set_fitted(bundle)
        self.target_mean_, self.target_std_ = bundle.training["target_mean"], bundle.training["target_std"]
        self.set_params(loss=bundle.training.get("loss", REGRESSION.losses[0]),
                        column=bundle.training.get("column", DEFAULT_COLUMN))


def dataset_name(dataset: Targets) -> str:
    """What a run's config.json records as its dataset: the CSV or folder, or how many targets were given."""
    return f"{len(dataset)} targets given in Python" if isinstance(dataset, list) else str(dataset)
