"""What a worker thread does for a request: label a whole video, or compute a timeline job.

Both use the Python API only (``predict_many`` of a classifier or a regressor, ``run_timeline``). Each
prediction gets its own feature cache inside its request folder, so uploads leave
nothing behind once answered. A timeline reports progress through the frame callback
(its time over the probed duration) and stops there when the client cancels.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vidclass.errors import DiskFullError, VidclassError, is_disk_full
from vidclass.estimator.classifier import VideoClassifier
from vidclass.serve.errors import ApiError, disk_full
from vidclass.serve.inputs import VideoInput
from vidclass.serve.jobs import Cancelled, TimelineJob
from vidclass.serve.schemas import ErrorDetail, Prediction, Timeline, ValuePrediction
from vidclass.use.annotation import annotation
from vidclass.use.predict import TimelineSettings, run_timeline

if TYPE_CHECKING:
    from vidclass.estimator.regressor import VideoRegressor

log = logging.getLogger("vidclass.serve")

ANNOTATED = "annotated.mp4"


def _shown(message: str, source: VideoInput) -> str:
    """``message`` with the server's path of the video replaced by the name the client knows."""
    return message.replace(str(source.path), source.name)


def predict(model: VideoClassifier | VideoRegressor, source: VideoInput, folder: Path,
            top_k: int | None) -> Prediction | ValuePrediction:
    """The ranked labels of one whole video (a regression model: its value), as ``vidclass predict --json``
    gives them."""
    private = copy.copy(model)  # shares the weights; only the feature cache differs
    private.cache_dir = folder / "cache"
    try:
        probabilities, failed = private.predict_many([source.path])
    except DiskFullError:
        raise disk_full(folder) from None
    except VidclassError as error:
        raise ApiError(422, "not_a_video", _shown(str(error), source)) from None
    if failed or len(probabilities) == 0:
        message = _shown(next(iter(failed.values()), "cannot be read"), source)
        raise ApiError(422, "not_a_video", message if source.name in message else f"{source.name}: {message}")
    record = model.task.record(source.name, probabilities[0], model.labels_, top_k)
    return (ValuePrediction if model.task.values else Prediction).model_validate(record)


def timeline(
    model: VideoClassifier | VideoRegressor, job: TimelineJob, source: VideoInput, settings: TimelineSettings, *,
    annotate: bool, top_k: int,
) -> None:
    """Compute ``job``'s timeline (and annotated video), recording its outcome on the job (which
    removes the upload, and the folder unless it holds the annotated video)."""
    try:
        if not job.start():
            return
        out = job.folder / ANNOTATED if annotate else None
        with annotation(model.labels_, source.path, out=out, top_k=top_k, values=model.task.values) as draw:

            def on_frame(frame, time, probabilities) -> None:
                job.tick(time)
                if draw is not None:
                    draw(frame, time, probabilities)

            result = run_timeline(model, source.path, settings, annotate=on_frame)
        job.succeed(Timeline.model_validate(result.to_dict()), out)
    except Cancelled:
        job.stop()
    except Exception as error:  # noqa: BLE001 - the job reports it; the server goes on
        if is_disk_full(error):
            job.fail(disk_full(job.folder).detail())
        elif isinstance(error, VidclassError):
            job.fail(ErrorDetail(code="not_a_video", message=_shown(str(error), source)))
        else:
            log.exception("timeline job %s failed", job.id)
            job.fail(ErrorDetail(code="internal", message=f"internal error ({type(error).__name__}); see the server log"))
