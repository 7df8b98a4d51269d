"""``VideoClassifier``: the scikit-learn classifier over the whole pipeline, for every model kind.

It sits on the estimator core (:class:`vidclass.estimator.core.VideoEstimator`: parameters, the seam's
network, cached inputs, training, view-averaged outputs, bundles) and adds what classification needs:
``fit`` catalogs the dataset and splits it by group (whole files) or cuts it into clips of recordings
and segments (:mod:`vidclass.estimator.shapes`), calibrates a temperature on the validation split and evaluates
on the held-back test split; ``predict`` / ``predict_proba`` / ``score`` / ``evaluate`` label other
videos with the model's own sampling and preprocessing, leaving out what it trained on. The CLI is a thin
layer over this class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import ClassifierMixin

from vidclass.data import catalog as catalog_
from vidclass.data.items import Catalog
from vidclass.data.splits import split_catalog
from vidclass.errors import ConfigError, VidclassError
from vidclass.estimator.core import VideoEstimator, safe_fingerprint
from vidclass.estimator.seams import Progress
from vidclass.estimator.shapes import WholeFiles, recording_shape
from vidclass.estimator.tasks import CLASSIFICATION, Task
from vidclass.evaluation import metrics
from vidclass.evaluation.calibration import (
    calibrate_probabilities,
    calibration_summary,
    fit_temperature,
    logits_from_probabilities,
    plot_reliability,
)

Dataset = str | Path | Catalog


class VideoClassifier(ClassifierMixin, VideoEstimator):
    """A video classifier of any kind, trained and used on whole videos (the parameters:
    :class:`vidclass.estimator.core.VideoEstimator`; ``label_smoothing`` and ``class_weights`` are
    classification's)."""

    task: ClassVar[Task] = CLASSIFICATION  # what its outputs are: class probabilities

    # --- fitting ---------------------------------------------------------------------

    def fit(
        self,
        dataset: Dataset,
        y: None = None,
        *,
        out_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        on_video: Progress | None = None,
    ) -> VideoClassifier:
        """Train on ``dataset`` (a folder, CSV, list file or Catalog); returns self.

        With ``out_dir``: the resolved configuration, per-epoch metrics CSV, training-curve
        PNG, checkpoints, the model bundle (``model/``) and the evaluation of the test split
        (``evaluation/``). The run is built in ``.<name>.partial`` beside it and swapped in
        when complete, so the folder always holds one whole run; a non-empty ``out_dir`` is
        refused unless ``overwrite``; ``resume`` continues a killed run from its last
        checkpoint. ``on_video(path, status)`` reports each video prepared (progress).
        """
        self.check_params()
        found = catalog_.drop_unreadable(_as_catalog(dataset))  # probe first: splits hold only readable videos
        catalog_.check_trainable(found)
        if self.clips is not None or found.segmented:  # long recordings / labeled segments: clips, time blocks
            shape = recording_shape(self, found)
        else:
            if found.is_images and self.model != "frame":
                raise ConfigError(
                    f"{found.root}: a folder of images trains only the frame model (--model frame); "
                    f"model {self.model!r} needs videos"
                )
            splits = split_catalog(found, val=self.val, test=self.test, seed=self.seed)
            shape = WholeFiles([item.path for item in found.items], splits.parts(), lambda item: item.label,
                               config={"dataset": str(found.root)},
                               record={"dataset": str(found.root), "format": found.source_format,
                                       "split": splits.method, "split_seed": self.seed},
                               left_out=catalog_.left_out(found), images=found.is_images)
        return self._fit_shape(shape, list(found.labels), out_dir=out_dir, resume=resume, overwrite=overwrite,
                               on_video=on_video)

    # --- prediction ------------------------------------------------------------------

    def predict_proba(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Class probabilities (N x C, columns in ``labels_`` order).

        An unreadable video raises VideoReadError naming it; use ``predict_many`` to go on
        past bad files.
        """
        probabilities, failed = self.predict_many(paths)
        if failed:
            path, reason = next(iter(failed.items()))
            raise VidclassError(reason if path in reason else f"{path}: {reason}")
        return probabilities

    def predict_many(self, paths: Sequence[str | Path]) -> tuple[np.ndarray, dict[str, str]]:
        """Probabilities for the readable videos of ``paths`` (in order) and the reason per failed one."""
        self.check_fitted()
        paths = [Path(p) for p in paths]
        inputs, failed = self._inputs(paths)
        readable = [p for p in paths if p in inputs]
        if not readable:
            return np.zeros((0, len(self.labels_)), dtype=np.float32), failed
        return self._finish(self._outputs([inputs[p] for p in readable])), failed

    def predict(self, paths: Sequence[str | Path]) -> list[str]:
        """The most probable label of each video."""
        return [self.labels_[i] for i in self.predict_proba(paths).argmax(axis=1)]

    def score(self, dataset: Dataset, y: None = None, sample_weight: None = None) -> float:
        """Accuracy on the videos of ``dataset`` the model was not trained on."""
        return self.evaluate(dataset).accuracy

    def _finish(self, raw: np.ndarray) -> np.ndarray:
        """What a user sees of class probabilities (N, C), in batch prediction and timelines alike: the bundle's
        temperature scaling applied."""
        return calibrate_probabilities(raw, self.temperature_)

    # --- the task: classes, temperature, scores ------------------------------------------

    def _learn_targets(self, labels: list[str], train: list[str]) -> int:
        """The classes, in the catalog's order; returns how many outputs the network needs."""
        self.labels_ = list(labels)
        return len(self.labels_)

    def _target(self, label: str) -> int:
        """What a training example of class ``label`` is fitted to: its class index."""
        return self.labels_.index(label)

    def _task_record(self) -> dict[str, Any]:
        """What the training record says of the task (a classifier's bundle records none: the default)."""
        return {}

    def _score(self, val_raw: Callable[[], np.ndarray], val_labels: Sequence[str], test_raw: np.ndarray,
               test_labels: Sequence[str], *, groups: Sequence[str | None]) -> None:
        """Temperature scaling fitted on the validation outputs (``val_raw()``; 1.0 without any), then the test
        part's evaluation."""
        y_val = np.array([self._target(label) for label in val_labels])
        self.temperature_ = fit_temperature(logits_from_probabilities(val_raw()), y_val) if len(y_val) else 1.0
        self.evaluation_ = self._evaluation(test_labels, test_raw, split="test", groups=groups) if test_labels else None

    # --- evaluation ------------------------------------------------------------------

    def evaluate(self, dataset: Dataset, *, out_dir: str | Path | None = None) -> metrics.Evaluation:
        """Evaluate on the videos of ``dataset`` that the model never saw in training.

        Videos whose content was used for training or early stopping, and videos of a
        group the model was trained on, are left out, so evaluating on the training
        dataset scores exactly its held-back part. The result says which videos remain.
        """
        self.check_fitted()
        found = catalog_.drop_unreadable(_as_catalog(dataset))
        seen = set(self.training_videos_)
        seen_groups = set(self.training_.get("groups", []))
        unknown = sorted({item.label for item in found.items} - set(self.labels_))
        if unknown:
            raise ConfigError(
                f"{found.root}: labels {', '.join(unknown)} are not among the model's labels ({', '.join(self.labels_)})"
            )
        kept = [
            item
            for item in found.items
            if item.group not in seen_groups and safe_fingerprint(item.path) not in seen
        ]
        if not kept:
            raise VidclassError(f"{found.root}: every video of this dataset was used in training; nothing left to evaluate")
        inputs, failed = self._inputs([item.path for item in kept])
        items = [item for item in kept if item.path in inputs]
        if not items:
            raise VidclassError(f"{found.root}: none of the {len(kept)} videos left to evaluate could be read")
        left_out = len(found.items) - len(kept)
        split = "held-out" if left_out else "all"
        probabilities = self._outputs([inputs[item.path] for item in items])
        evaluation = self._evaluation([item.label for item in items], probabilities, split=split,
                                      groups=[item.group for item in items])
        evaluation.notes = [f"{left_out} videos seen in training left out"] if left_out else []
        evaluation.notes += [
            f"left out {reason}" if reason.startswith(path) else f"left out {path}: {reason}"
            for path, reason in catalog_.left_out(found, failed).items()
        ]
        if out_dir is not None:
            self._write_scores(Path(out_dir), probabilities, [item.label for item in items],
                               names=[item.path for item in items], evaluation=evaluation)
        return evaluation

    def _evaluation(self, labels: Sequence[str], raw: np.ndarray, *, split: str,
                    groups: Sequence[str | None]) -> metrics.Evaluation:
        """Scores of the temperature-scaled probabilities, with the ECE of ``raw`` before and after scaling."""
        y = [self._target(label) for label in labels]
        evaluation = metrics.evaluate_predictions(y, self._finish(raw), self.labels_,
                                                  split=split, groups=list(groups))
        evaluation.calibration = calibration_summary(raw, np.array(y), self.temperature_)
        return evaluation

    def _write_scores(self, out_dir: Path, raw: np.ndarray, labels: Sequence[str], *, names: Sequence[str | Path],
                      groups: Sequence[str | None] | None = None,
                      evaluation: metrics.Evaluation | None = None) -> dict[str, Path]:
        """metrics.json, the confusion PNG, predictions.csv (scaled probabilities) and reliability.png of
        ``evaluation`` (default ``evaluation_``; computed from these ``raw`` outputs), one row per video or clip in
        ``names``."""
        evaluation = evaluation if evaluation is not None else self.evaluation_
        y = [self._target(label) for label in labels]
        files = metrics.write_evaluation(evaluation, out_dir, paths=list(names), y_true=y,
                                         probabilities=self._finish(raw), groups=groups)
        files["reliability"] = plot_reliability(raw, np.array(y), out_dir / "reliability.png",
                                                temperature=self.temperature_,
                                                title=f"Reliability: split {evaluation.split!r}, {len(y)} videos")
        return files


def _as_catalog(dataset: Dataset) -> Catalog:
    return dataset if isinstance(dataset, Catalog) else catalog_.load_catalog(dataset)

