"""Typed request and response bodies of the HTTP API (what /docs shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable word for the kind of problem, e.g. too_large, not_a_video.")
    message: str = Field(description="One line naming the input and the problem.")


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail


class PathRequest(BaseModel):
    """A video the server may read itself: an absolute path inside one of its ``--allow-dir`` folders."""

    path: str = Field(min_length=1, max_length=4096)


class Probability(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    """One video's labels, sorted from most to least probable, as ``vidclass predict --json`` prints them."""

    path: str = Field(description="The path asked for, or the upload's file name as the client gave it.")
    label: str
    top: list[Probability]


class ValuePrediction(BaseModel):
    """A regression model's estimate for one video, as ``vidclass predict --json`` prints it."""

    path: str = Field(description="The path asked for, or the upload's file name as the client gave it.")
    value: float = Field(description="The number the model estimates for the whole video.")


class Window(BaseModel):
    start: float
    end: float
    label: str
    raw: list[float]
    smoothed: list[float]


class Segment(BaseModel):
    start: float
    end: float
    label: str
    mean_probability: float
    windows: int


class Timeline(BaseModel):
    """Windows, smoothed probabilities and segments, as ``vidclass timeline --json`` prints them. A regression
    model's (``values``): each window's raw and smoothed value (its label: the smoothed value), no segments."""

    labels: list[str]
    values: bool = Field(False, description="True for a regression model: raw and smoothed are values.")
    smooth_k: int
    skipped_frames: int
    windows: list[Window]
    segments: list[Segment]


JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class Job(BaseModel):
    """A timeline being computed: poll ``url`` (with ``?wait=`` seconds to long-poll), DELETE it to cancel."""

    id: str
    status: JobStatus
    source: str = Field(description="The path asked for, or the upload's file name as the client gave it.")
    progress: float = Field(ge=0, le=1, description="Fraction of the video's duration done.")
    duration: float = Field(description="The video's duration in seconds.")
    url: str
    video_url: str | None = Field(None, description="The annotated video, once the job is done (annotate=true).")
    result: Timeline | None = None
    error: ErrorDetail | None = None


class Limits(BaseModel):
    max_upload_bytes: int
    max_duration_s: float
    workers: int
    queue: int


class ModelInfo(BaseModel):
    name: str
    kind: str = Field(description="The bundle's model kind, e.g. features (frozen features and a temporal head).")
    task: Literal["classification", "regression"] = Field(
        description="classification (predictions: labels and probabilities) or regression (a value per video).")
    labels: list[str]
    training: dict[str, Any]
    metrics: dict[str, Any]
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"]
    running: int
    waiting: int
    capacity: int
