"""A bounded load test on the loopback interface: 50 uploads of a real clip from 8 concurrent clients."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from vidclass.serve.loadtest import load_test

pytestmark = pytest.mark.slow


def files_under(root: Path) -> set[Path]:
    return {Path(folder) / name for folder, _, names in os.walk(root) for name in names}


def test_fifty_uploads_from_eight_clients(live_server, clips, cli_predictions, artifacts):
    url, process, temp = live_server
    clip = clips / "short32.mp4"
    expected = cli_predictions(clip)["label"]
    before = files_under(temp)
    report = load_test(url, clip, uploads=50, clients=8, server_pid=process.pid, deadline_s=240)

    assert report.answered == 50 and report.outcomes == [200] * 50  # nothing lost: each upload got its labels
    assert set(report.statuses) <= {200, 503}
    assert report.statuses[503] > 0  # 8 clients, 3 places: the queue was full and said so
    assert report.labels == {expected: 50}
    assert len(report.turnarounds) == 50 and min(report.turnarounds) >= min(report.latencies)
    assert files_under(temp) == before  # no upload, cache or partial file left behind
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "running": 0, "waiting": 0, "capacity": 3}
    figures = {"uploads": 50, "clients": 8, "seconds": round(report.seconds, 2), "responses": dict(report.statuses),
               "p50_s": round(report.percentile(50), 3), "p95_s": round(report.percentile(95), 3),
               "turnaround_p50_s": round(report.percentile(50, turnaround=True), 3),
               "turnaround_p95_s": round(report.percentile(95, turnaround=True), 3),
               "server_peak_rss_mb": round(report.peak_rss_mb, 1)}
    (artifacts / "serve-load.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(figures)
