"""The FastAPI application: the loaded model, the bounded queue, the routes and the page.

``create_app(model_dir, settings)`` loads the model once; the routes reach it through a
dependency. Every route but ``/healthz`` needs the API key when one is set. The docs at
``/docs`` and the page at ``/`` load nothing from the network.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from vidclass import __version__
from vidclass.errors import VidclassError
from vidclass.estimator.bundle import bundle_task, read_config
from vidclass.estimator.factory import load_model
from vidclass.serve import work
from vidclass.serve.card import without_host_paths
from vidclass.serve.errors import VIDEO_ERRORS, ApiError, error_response, install_handlers
from vidclass.serve.inputs import receive_video
from vidclass.serve.jobs import JobStore, QueueFull, Slot, TimelineJob, WorkQueue
from vidclass.serve.schemas import ErrorBody, Health, Job, Limits, ModelInfo, PathRequest, Prediction, ValuePrediction
from vidclass.serve.settings import ServeSettings
from vidclass.use.predict import TimelineSettings

STATIC = Path(__file__).parent / "static"
KEY_COOKIE = "vidclass_key"


class Service:
    """The loaded model (a classifier, or a regressor when the bundle records task regression), the queue, the
    jobs and the private folder uploads go to."""

    def __init__(self, model_dir: Path, settings: ServeSettings) -> None:
        self.model_dir = Path(model_dir)
        self.settings = settings
        self.model = load_model(self.model_dir, workers=0, runtime=settings.runtime)  # decode in the worker thread
        self.task = bundle_task(self.model_dir)
        kind = read_config(self.model_dir).get("model", {"kind": "features"})
        self.kind = str(kind.get("kind", "features") if isinstance(kind, dict) else kind)
        self.jobs = JobStore(settings.job_ttl_s)
        self.queue: WorkQueue | None = None
        self.root: Path | None = None

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="vidclass-serve-"))  # mode 0700: this user only
        self.queue = WorkQueue(self.settings.workers, self.settings.queue)

    def close(self) -> None:
        self.jobs.cancel_all()
        if self.queue is not None:
            self.queue.close()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def reserve(self) -> Slot:
        try:
            return self.queue.reserve()
        except QueueFull as full:
            raise ApiError(503, "queue_full", str(full), {"Retry-After": str(full.retry_after)}) from None

    def new_folder(self) -> Path:
        """A new private folder for one request, named by the server."""
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(mode=0o700)
        return folder


def _service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(_service)]

# Both ways of giving a video, for /docs (the body is read by hand to stream uploads to disk).
VIDEO_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "application/json": {"schema": PathRequest.model_json_schema()},
        },
    }
}

api = APIRouter(prefix="/v1", tags=["v1"], responses={401: {"model": ErrorBody, "description": "API key missing"}})
site = APIRouter()


@api.get("/model", response_model=ModelInfo, summary="The served model: labels, kind, training, metrics")
def model_info(service: ServiceDep) -> ModelInfo:
    model, settings = service.model, service.settings
    dataset = (model.training_ or {}).get("dataset")
    return ModelInfo(
        name=service.model_dir.name,
        kind=service.kind,
        task=service.task,
        labels=list(model.labels_),
        training=without_host_paths(model.training_, dataset),
        metrics=without_host_paths(getattr(model, "bundle_metrics_", None) or {}, dataset),
        limits=Limits(max_upload_bytes=settings.max_upload_bytes, max_duration_s=settings.max_duration_s,
                      workers=settings.workers, queue=settings.queue),
    )


@api.post("/predict", response_model=Prediction | ValuePrediction, responses=VIDEO_ERRORS, openapi_extra=VIDEO_BODY,
          summary="Label a whole video: class probabilities sorted high to low (a regression model: the value)")
async def predict(
    request: Request, service: ServiceDep,
    top_k: Annotated[int | None, Query(ge=1, description="How many classes to return (default: all).")] = None,
) -> Prediction | ValuePrediction:
    slot = service.reserve()
    folder = service.new_folder()
    try:
        source = await receive_video(request, folder, service.settings)
        future = service.queue.submit(slot, lambda: work.predict(service.model, source, folder, top_k))
    except BaseException:
        slot.release()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    future.add_done_callback(lambda _: shutil.rmtree(folder, ignore_errors=True))
    return await asyncio.wrap_future(future)


@api.post("/timeline", response_model=Job, status_code=202, responses=VIDEO_ERRORS, openapi_extra=VIDEO_BODY,
          summary="Start a timeline job: windows, smoothed probabilities, segments, optional annotated video")
async def timeline(
    request: Request, response: Response, service: ServiceDep,
    window: Annotated[float | None, Query(gt=0, description="Window seconds (default: the model's clip length).")] = None,
    stride: Annotated[float | None, Query(gt=0, description="Seconds between windows (default: 0.5 s).")] = None,
    smooth: Annotated[int, Query(ge=1, description="Rolling average over this many windows.")] = 1,
    annotate: Annotated[bool, Query(description="Also write the annotated video (see video_url).")] = False,
    top_k: Annotated[int, Query(ge=1, description="Classes drawn on the annotated frames.")] = 3,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the result before answering.")] = 0,
) -> Job:
    slot = service.reserve()
    folder = service.new_folder()
    try:
        source = await receive_video(request, folder, service.settings)
        given = {name: value for name, value in (("window", window), ("stride", stride)) if value is not None}
        settings = TimelineSettings(smooth=smooth, **given)
        job = TimelineJob(source.name, source.duration, folder, slot)
        service.jobs.add(job)
        service.queue.submit(slot, lambda: work.timeline(service.model, job, source, settings, annotate=annotate,
                                                         top_k=top_k))
    except VidclassError as error:
        slot.release()
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(422, "invalid_request", str(error)) from None
    except BaseException:
        slot.release()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return await _answer(job, request, response, wait)


@api.get("/jobs/{job_id}", response_model=Job, summary="A timeline job: status, progress, result")
async def get_job(
    job_id: str, request: Request, response: Response, service: ServiceDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Seconds to wait for the job to finish.")] = 0,
) -> Job:
    return await _answer(_job(service, job_id), request, response, wait)


@api.delete("/jobs/{job_id}", response_model=Job,
            summary="Cancel a job; a finished one is forgotten with its files")
async def delete_job(job_id: str, request: Request, service: ServiceDep) -> Job:
    job = _job(service, job_id)
    if job.finished:
        service.jobs.remove(job)
    else:
        job.cancel()
    return _body(job, request)


@api.get("/jobs/{job_id}/video", response_class=FileResponse, summary="The annotated video of a finished job",
         responses={200: {"content": {"video/mp4": {}}}, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}})
def job_video(job_id: str, service: ServiceDep) -> FileResponse:
    job = _job(service, job_id)
    if not job.finished:
        raise ApiError(409, "not_ready", f"job {job_id} is {job.status}; its video is ready when it is done")
    if job.video is None or not job.video.is_file():
        raise ApiError(404, "not_found", f"job {job_id} has no annotated video (start it with annotate=true)")
    return FileResponse(job.video, media_type="video/mp4")


def _job(service: Service, job_id: str) -> TimelineJob:
    job = service.jobs.get(job_id)  # a dictionary lookup: the id never becomes a path
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id} (finished jobs are kept {service.settings.job_ttl_s:g} s)")
    return job


async def _answer(job: TimelineJob, request: Request, response: Response, wait: float) -> Job:
    """The job after waiting up to ``wait`` seconds for it: 200 when finished, else 202 with Location."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not job.finished and loop.time() < deadline:
        await asyncio.sleep(0.05)
    body = _body(job, request)
    response.status_code = 200 if job.finished else 202
    if not job.finished:
        response.headers["Location"] = body.url
    return body


def _body(job: TimelineJob, request: Request) -> Job:
    url = request.app.url_path_for("get_job", job_id=job.id)
    video = request.app.url_path_for("job_video", job_id=job.id) if job.video is not None else None
    return Job(id=job.id, status=job.status, source=job.source, progress=job.progress, duration=job.duration,
               url=str(url), video_url=str(video) if video else None, result=job.result, error=job.error)


@site.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and queue use (no API key)")
def healthz(service: ServiceDep) -> Health:
    queue = service.queue
    return Health(status="ok", running=queue.running, waiting=queue.waiting, capacity=queue.capacity)


@site.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


class ApiKeyGate:
    """Refuses every request but ``/healthz`` without the key (X-API-Key, Bearer, or the page's cookie).

    A browser opens ``/?key=KEY`` once; that sets an HttpOnly cookie and drops the key from the address.
    """

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key.encode()

    def _matches(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode(), self.key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            return await self.app(scope, receive, send)
        request = Request(scope)
        bearer = request.headers.get("authorization", "")
        given = [request.headers.get("x-api-key"), request.cookies.get(KEY_COOKIE),
                 bearer[7:] if bearer.lower().startswith("bearer ") else None]
        if any(self._matches(key) for key in given):
            return await self.app(scope, receive, send)
        if scope["path"] == "/" and self._matches(request.query_params.get("key")):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(KEY_COOKIE, self.key.decode(), httponly=True, samesite="strict")
        else:
            response = error_response(
                401, "unauthorized",
                "this server needs its API key: send it as X-API-Key or 'Authorization: Bearer KEY', "
                "or open /?key=KEY in a browser",
                {"WWW-Authenticate": "Bearer"},
            )
        await response(scope, receive, send)


def create_app(model_dir: str | Path, settings: ServeSettings | None = None) -> FastAPI:
    """The service for the model bundle at ``model_dir``; the model is loaded here, once."""
    settings = settings or ServeSettings()
    service = Service(Path(model_dir), settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.close()

    app = FastAPIOffline(
        title="vidclass",
        version=__version__,
        summary=(f"Video regression with the model {service.model_dir.name} (a value per video)"
                 if service.task == "regression" else
                 f"Video classification with the model {service.model_dir.name} ({', '.join(service.model.labels_)})"),
        lifespan=lifespan,
    )
    app.state.service = service
    install_handlers(app)
    app.include_router(api)
    app.include_router(site)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.api_key is not None:
        app.add_middleware(ApiKeyGate, key=settings.api_key)
    return app


class RedactKey(logging.Filter):
    """Blanks the value of a ``key`` query parameter in uvicorn's access log lines: the page's sign-in
    (``/?key=KEY``) never writes the API key into a log."""

    _KEY = re.compile(r"([?&]key=)[^&\s]*", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._KEY.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, on stderr (stdout stays clean), the access log without API keys."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config.setdefault("filters", {})["redact_key"] = {"()": RedactKey}
    config["handlers"]["access"]["filters"] = ["redact_key"]
    return config


def serve(model_dir: str | Path, settings: ServeSettings) -> None:
    """Load the model and serve it with uvicorn until interrupted; logs go to stderr."""
    import uvicorn

    app = create_app(model_dir, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=log_config(), timeout_graceful_shutdown=5)
