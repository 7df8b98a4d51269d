"""The options of ``vidclass serve``, checked once when the service starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from vidclass.errors import ConfigError

API_KEY_ENV = "VIDCLASS_API_KEY"


@dataclass(frozen=True)
class ServeSettings:
    """Where the service listens and what it accepts.

    ``workers`` jobs run at once and ``queue`` more may wait; a request beyond those is
    answered 503 with Retry-After. Uploads may hold at most ``max_upload_mb`` megabytes
    and videos (uploaded or read from ``allow_dirs``) at most ``max_duration_s`` seconds.
    Finished timeline jobs and their annotated videos are kept ``job_ttl_s`` seconds.
    ``api_key`` (default: the ``VIDCLASS_API_KEY`` environment variable) protects every
    route but ``/healthz``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    queue: int = 8
    max_upload_mb: float = 200.0
    max_duration_s: float = 600.0
    allow_dirs: tuple[Path, ...] = ()
    api_key: str | None = field(default_factory=lambda: os.environ.get(API_KEY_ENV) or None, repr=False)
    job_ttl_s: float = 3600.0
    runtime: str = "auto"  # inference engine (vidclass.models.runtime): auto, onnxruntime or torch

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be 0..65535, got {self.port}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1 (jobs run at once), got {self.workers}")
        if self.queue < 0:
            raise ConfigError(f"--queue must be >= 0 (jobs waiting for a worker), got {self.queue}")
        if self.max_upload_mb <= 0:
            raise ConfigError(f"--max-upload-mb must be > 0, got {self.max_upload_mb}")
        if self.max_duration_s <= 0:
            raise ConfigError(f"--max-duration must be > 0 seconds, got {self.max_duration_s}")
        if self.job_ttl_s <= 0:
            raise ConfigError(f"--job-ttl must be > 0 seconds, got {self.job_ttl_s}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("--api-key must not be empty")
        resolved = []
        for folder in self.allow_dirs:
            path = Path(folder).expanduser().resolve()
            if not path.is_dir():
                raise ConfigError(f"--allow-dir {folder}: not a folder")
            resolved.append(path)
        object.__setattr__(self, "allow_dirs", tuple(resolved))

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
