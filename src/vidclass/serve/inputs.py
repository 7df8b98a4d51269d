"""The video of a request: a streamed multipart upload, or a path inside ``--allow-dir``.

An upload is written to ``<job folder>/upload`` (a name the server chose) while it
arrives, and refused with 413 as soon as it passes the size limit. The client's file
name is only ever shown back, in answers and messages. A path request is resolved
(``..`` and symbolic links followed) before it is checked against the allowed folders,
so neither can lead outside them. Either way the video is probed before any work is
queued: unreadable or too long videos are refused with a message naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from vidclass.errors import VideoReadError, is_disk_full
from vidclass.media import video
from vidclass.serve.errors import ApiError, disk_full
from vidclass.serve.schemas import PathRequest
from vidclass.serve.settings import ServeSettings

_OVERHEAD = 64 * 1024  # multipart headers and boundaries around the file, and small form fields
_JSON_LIMIT = 64 * 1024


@dataclass(frozen=True)
class VideoInput:
    """A video the server may read: where it is, what to call it in answers, and its duration."""

    path: Path
    name: str
    duration: float


async def receive_video(request: Request, folder: Path, settings: ServeSettings) -> VideoInput:
    """The request's video, written under ``folder`` when uploaded, probed and within the limits."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        path = folder / "upload"
        name = await _receive_upload(request, path, settings.max_upload_bytes)
    elif kind == "application/json":
        name = (await _path_body(request)).path
        path = _allowed_path(name, settings.allow_dirs)
    else:
        raise ApiError(415, "unsupported_media_type",
                       f"send the video as multipart/form-data (field 'file') or JSON {{\"path\": ...}}, "
                       f"not {kind or 'a body without Content-Type'}")
    duration = await run_in_threadpool(_probe, path, name, settings.max_duration_s)
    return VideoInput(path=path, name=name, duration=duration)


def _probe(path: Path, name: str, max_duration: float) -> float:
    try:
        info = video.probe(path)
    except VideoReadError as error:
        raise ApiError(422, "not_a_video", f"{name}: {error.problem}") from None
    if info.duration > max_duration:
        raise ApiError(422, "too_long", f"{name}: the video is {info.duration:.1f} s long; this server accepts "
                                        f"at most {max_duration:g} s (--max-duration)")
    return info.duration


async def _path_body(request: Request) -> PathRequest:
    body = b""
    async for chunk in request.stream():  # read no more than the limit, whatever the client sends
        body += chunk
        if len(body) > _JSON_LIMIT:
            raise ApiError(413, "too_large", f"the JSON body is larger than {_JSON_LIMIT} bytes")
    try:
        return PathRequest.model_validate_json(body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors())
        raise ApiError(422, "invalid_request", f"the JSON body must be {{\"path\": \"/absolute/path\"}} ({problems})")


def _allowed_path(text: str, allowed: tuple[Path, ...]) -> Path:
    """The resolved path ``text``, when it lies inside an allowed folder and is a file."""
    if not allowed:
        raise ApiError(403, "forbidden_path",
                       f"{text}: this server reads no paths (start it with --allow-dir FOLDER), upload the video instead")
    path = Path(text)
    if not path.is_absolute():
        raise ApiError(400, "bad_path", f"{text}: give an absolute path inside one of the allowed folders")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise ApiError(400, "bad_path", f"{text}: not a usable path ({error})") from None
    if not any(resolved.is_relative_to(folder) for folder in allowed):
        raise ApiError(403, "forbidden_path", f"{text}: outside the folders this server may read (--allow-dir)")
    if not resolved.is_file():
        raise ApiError(404, "not_found", f"{text}: no such file")
    return resolved


async def _receive_upload(request: Request, target: Path, limit: int) -> str:
    """Stream the first file part of a multipart body into ``target``; the client's file name."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _OVERHEAD:
        raise ApiError(413, "too_large", f"the upload is {int(declared)} bytes; this server accepts at most "
                                         f"{limit} bytes (--max-upload-mb)")
    _, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_request", "the multipart body has no boundary in its Content-Type")
    part = _FilePart(target, limit)
    parser = MultipartParser(boundary, part.callbacks())
    received = 0
    try:
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit + _OVERHEAD or part.too_large:
                    raise ApiError(413, "too_large", f"{part.name or 'the upload'}: larger than {limit} bytes, the "
                                                     f"most this server accepts (--max-upload-mb)")
                parser.write(chunk)
            parser.finalize()
        finally:
            part.close()  # flushes: a full disk may show only here
    except MultipartParseError as error:
        raise ApiError(400, "bad_request", f"the multipart body cannot be parsed ({error})") from None
    except OSError as error:
        if is_disk_full(error):
            raise disk_full(target.parent) from None
        raise
    if part.too_large:
        raise ApiError(413, "too_large", f"{part.name}: larger than {limit} bytes, the most this server accepts "
                                         f"(--max-upload-mb)")
    if part.name is None:
        raise ApiError(400, "bad_request", "the multipart body has no file; send the video in the field 'file'")
    if part.size == 0:
        raise ApiError(400, "empty_upload", f"{part.name}: the upload is empty (0 bytes)")
    return part.name


class _FilePart:
    """Callbacks of python-multipart's streaming parser that write the first file part to disk."""

    def __init__(self, target: Path, limit: int) -> None:
        self.target = target
        self.limit = limit
        self.name: str | None = None  # the client's file name, for messages only
        self.size = 0
        self.too_large = False
        self._file = None
        self._writing = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: setattr(self, "_field", self._field + data[start:end]),
            "on_header_value": lambda data, start, end: setattr(self, "_value", self._value + data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = disposition.get(b"filename")
        if filename is None or self.name is not None:
            return
        shown = filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1][:200]
        self.name = shown or "upload"
        self._file = open(self.target, "xb")  # noqa: SIM115 - closed in _end or close
        self._writing = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._writing or self.too_large:
            return
        self.size += end - start
        if self.size > self.limit:
            self.too_large = True
            return
        self._file.write(data[start:end])

    def _end(self) -> None:
        if self._writing:
            self._writing = False
            self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
