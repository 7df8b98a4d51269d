"""Feature extraction: features equal a direct computation, the cache resumes, bad videos are reported."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset
from vidclass.errors import ConfigError
from vidclass.inputs import features
from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, FeatureSpec, fingerprint, load_features
from vidclass.media import motion, sampling, video
from vidclass.models.backbones import FrameEncoder, create_backbone

BACKBONE = "timm:mobilenetv3_small_050"
GRID = 6
CLIP_FRAMES = 8  # 1 s at 8 fps


def make_clips(root: Path, per_class: int, seed: int = 0) -> list[Path]:
    spec = SyntheticSpec(clips_per_class=per_class, seconds=1.0, fps=8, size=96, seed=seed)
    return sorted(make_direction_dataset(root, spec).rglob("*.mp4"))


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """One intra-op thread: on a small shared machine a tiny CNN runs faster without thread barriers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def encoder() -> FrameEncoder:
    return create_backbone(BACKBONE, pretrained=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    return make_clips(tmp_path_factory.mktemp("clips"), per_class=3)


def direct(path: Path, encoder: FrameEncoder, grid: int) -> np.ndarray:
    """The grid features of one video computed by hand: read_frames at the backbone's size -> encoder."""
    p = encoder.spec.preprocess
    indices = sampling.uniform(video.probe(path).num_frames, grid).indices
    frames = video.read_frames(path, indices, size=p.resize, crop=p.crop, interpolation=p.interpolation)
    with torch.inference_mode():
        return encoder(torch.from_numpy(frames)).numpy()


def extracted(paths, encoder, grid, cache, **options) -> dict[Path, np.ndarray]:
    """Run extract_features and return the cached features of every video, by path."""
    report = extract_features(paths, encoder, grid, cache=cache, **options)
    assert not report.failed, report.failed
    entries = load_features(paths, FeatureSpec.for_encoder(encoder, grid), cache)
    assert sorted(entries) == sorted(Path(p) for p in paths)
    return {path: entry.features for path, entry in entries.items()}


def entry_files(root: Path) -> dict[Path, tuple[int, int]]:
    """The cache entries under ``root`` and their (inode, mtime): a rewritten entry changes both."""
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in root.rglob("*.safetensors")}


def test_features_equal_a_direct_computation(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path)
    report = extract_features(clips, encoder, GRID, cache=cache, batch_size=4)
    assert (report.total, report.computed, report.cached, report.frames) == (len(clips), len(clips), 0, len(clips) * GRID)
    entries = load_features(clips, FeatureSpec.for_encoder(encoder, GRID), cache)
    for path in clips:
        entry = entries[path]
        info = video.probe(path)
        expected = sampling.uniform(info.num_frames, GRID)
        assert entry.features.shape == (GRID, encoder.spec.dim) and entry.features.dtype == np.float32
        np.testing.assert_allclose(entry.features, direct(path, encoder, GRID), rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(entry.indices, expected.indices)
        assert entry.mask.all()
        assert (entry.num_frames, entry.fps) == (info.num_frames, info.fps)
    # Different videos give different features (the comparison above is not trivially true).
    assert not np.allclose(entries[clips[0]].features, entries[clips[-1]].features, atol=1e-3)


class _Counting:
    """An encoder that counts the images it is given."""

    def __init__(self, encoder: FrameEncoder) -> None:
        self.encoder, self.spec, self.weights_id, self.scale = encoder, encoder.spec, encoder.weights_id, encoder.scale
        self.images = 0

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        self.images += len(frames)
        return self.encoder(frames)


def test_rgbdiff_alone_skips_the_frames_cnn_pass_and_gives_the_same_difference_features(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path)
    both, alone = _Counting(encoder), _Counting(encoder)
    extract_features(clips, both, GRID, cache=cache, pair_image="rgbdiff")
    report = extract_features(clips, alone, GRID, cache=cache, pair_image="rgbdiff", appearance=False)
    assert (report.computed, report.frames) == (len(clips), len(clips) * GRID)  # its own entries, not the full ones
    assert alone.images * 2 == both.images  # the frames themselves never went through the CNN
    full = load_features(clips, FeatureSpec.for_encoder(encoder, GRID, pair_image="rgbdiff"), cache)
    only_spec = FeatureSpec.for_encoder(encoder, GRID, pair_image="rgbdiff", appearance=False)
    only = load_features(clips, only_spec, cache)
    assert only_spec.key("f") != FeatureSpec.for_encoder(encoder, GRID, pair_image="rgbdiff").key("f")
    for path in clips:
        assert only[path].features.shape == (GRID, 0)
        np.testing.assert_allclose(only[path].rgbdiff, full[path].rgbdiff, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(only[path].indices, full[path].indices)
    assert extract_features(clips, alone, GRID, cache=cache, pair_image="rgbdiff", appearance=False).cached == len(clips)
    with pytest.raises(ConfigError, match="needs pair images"):
        FeatureSpec.for_encoder(encoder, GRID, appearance=False)


def test_rgbdiff_features_are_those_of_the_difference_images(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path)
    report = extract_features(clips, encoder, GRID, cache=cache, batch_size=5, pair_image="rgbdiff")
    assert (report.computed, report.frames) == (len(clips), len(clips) * GRID)
    entries = load_features(clips, FeatureSpec.for_encoder(encoder, GRID, pair_image="rgbdiff"), cache)
    p = encoder.spec.preprocess
    for path in clips:
        info = video.probe(path)
        indices = sampling.uniform(info.num_frames, GRID).indices
        earlier, later = motion.partner_pairs(indices, info.num_frames, info.fps)
        pair = [video.read_frames(path, i, size=p.resize, crop=p.crop, interpolation=p.interpolation) for i in (earlier, later)]
        with torch.inference_mode():
            scaled = motion.difference_frames(*pair, motion.motion_scale(info.fps))  # to 1/15 s of real time
            expected = encoder(torch.from_numpy(scaled)).numpy()
        np.testing.assert_allclose(entries[path].rgbdiff, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(entries[path].features, direct(path, encoder, GRID), rtol=1e-4, atol=1e-4)
    # the moving square makes the difference images differ from flat grey
    flat = encoder(torch.full((1, p.crop, p.crop, 3), 128, dtype=torch.uint8)).detach().numpy()
    assert not np.allclose(entries[clips[0]].rgbdiff, flat, atol=1e-3)
    # appearance-only and RGB-difference entries are cached apart, and neither rewrites the other
    assert load_features(clips, FeatureSpec.for_encoder(encoder, GRID), cache) == {}
    again = extract_features(clips, encoder, GRID, cache=cache, pair_image="rgbdiff")
    assert (again.computed, again.cached) == (0, len(clips))


def test_short_video_repeats_its_last_frame_and_masks_the_repeats(clips, encoder, tmp_path, monkeypatch):
    grid = CLIP_FRAMES + 3
    spec = FeatureSpec.for_encoder(encoder, grid)
    encoded = []
    forward = encoder.forward
    monkeypatch.setattr(encoder, "forward", lambda frames: encoded.append(len(frames)) or forward(frames))
    report = extract_features(clips[:2], encoder, grid, cache=FeatureCache(tmp_path))
    monkeypatch.undo()
    assert (report.computed, report.frames) == (2, 2 * grid)
    assert sum(encoded) == 2 * CLIP_FRAMES  # each distinct frame goes through the CNN once
    entry = load_features(clips[:1], spec, FeatureCache(tmp_path))[clips[0]]
    assert entry.mask.tolist() == [True] * CLIP_FRAMES + [False] * 3
    assert entry.indices.tolist() == [*range(CLIP_FRAMES), *[CLIP_FRAMES - 1] * 3]
    np.testing.assert_array_equal(entry.features[CLIP_FRAMES:], np.repeat(entry.features[CLIP_FRAMES - 1 :][:1], 3, 0))
    np.testing.assert_allclose(entry.features, direct(clips[0], encoder, grid), rtol=1e-4, atol=1e-4)


def test_batch_size_does_not_change_features(clips, encoder, tmp_path):
    # 5 does not divide GRID, so batches span videos; 64 holds every frame in one batch.
    small = extracted(clips, encoder, GRID, FeatureCache(tmp_path / "b5"), batch_size=5)
    large = extracted(clips, encoder, GRID, FeatureCache(tmp_path / "b64"), batch_size=64)
    for path in clips:
        np.testing.assert_allclose(small[path], large[path], rtol=1e-4, atol=1e-4)


def test_workers_do_not_change_features(clips, encoder, tmp_path):
    in_process = extracted(clips, encoder, GRID, FeatureCache(tmp_path / "w0"), workers=0)
    one_worker = extracted(clips, encoder, GRID, FeatureCache(tmp_path / "w1"), workers=1)
    two_workers = extracted(clips, encoder, GRID, FeatureCache(tmp_path / "w2"), workers=2)
    for path in clips:
        np.testing.assert_allclose(in_process[path], one_worker[path], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(in_process[path], two_workers[path], rtol=1e-5, atol=1e-6)


def test_a_second_run_computes_nothing(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path)
    extract_features(clips, encoder, GRID, cache=cache)
    before = entry_files(tmp_path)
    assert len(before) == len(clips)
    seen = []
    report = extract_features(clips, encoder, GRID, cache=cache, on_video=lambda path, status: seen.append(status))
    assert (report.total, report.cached, report.computed, report.frames) == (len(clips), len(clips), 0, 0)
    assert seen == ["cached"] * len(clips)
    assert entry_files(tmp_path) == before
    # Another grid is another entry: nothing of the first run is taken for it.
    other = extract_features(clips, encoder, GRID + 1, cache=cache)
    assert (other.cached, other.computed) == (0, len(clips))


def test_the_cache_follows_content_not_names(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path / "cache")
    extract_features(clips, encoder, GRID, cache=cache)
    moved = []
    for i, path in enumerate(clips):
        moved.append(tmp_path / "moved" / f"renamed_{i}.mp4")
        moved[-1].parent.mkdir(exist_ok=True)
        shutil.copyfile(path, moved[-1])
    assert fingerprint(moved[0]) == fingerprint(clips[0]) != fingerprint(clips[1])
    report = extract_features(moved, encoder, GRID, cache=cache)
    assert (report.cached, report.computed) == (len(clips), 0)


def _truncate_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _truncate_header(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:6])


def _garbage(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8).tobytes())


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _zero_features(path: Path) -> None:
    """Keep the header, zero the data: still a readable file, so only its values changed."""
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header:] = bytes(len(data) - header)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("corrupt", [_truncate_half, _truncate_header, _garbage, _empty])
def test_a_corrupt_entry_is_detected_and_recomputed(clips, encoder, tmp_path, corrupt):
    cache = FeatureCache(tmp_path)
    spec = FeatureSpec.for_encoder(encoder, GRID)
    good = extracted(clips, encoder, GRID, cache)
    victim = cache.entry_path(spec, fingerprint(clips[2]))
    corrupt(victim)
    assert cache.load(spec, fingerprint(clips[2])) is None
    report = extract_features(clips, encoder, GRID, cache=cache)
    assert (report.computed, report.cached) == (1, len(clips) - 1)
    np.testing.assert_allclose(cache.load(spec, fingerprint(clips[2])).features, good[clips[2]], atol=1e-5)


def test_an_entry_of_another_video_under_this_name_is_recomputed(clips, encoder, tmp_path):
    cache = FeatureCache(tmp_path)
    spec = FeatureSpec.for_encoder(encoder, GRID)
    extract_features(clips, encoder, GRID, cache=cache)
    victim = cache.entry_path(spec, fingerprint(clips[0]))
    shutil.copyfile(cache.entry_path(spec, fingerprint(clips[1])), victim)
    assert cache.load(spec, fingerprint(clips[0])) is None
    report = extract_features(clips, encoder, GRID, cache=cache)
    assert (report.computed, report.cached) == (1, len(clips) - 1)


def test_leftover_temp_files_of_a_killed_run_are_ignored(clips, encoder, tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    spec = FeatureSpec.for_encoder(encoder, GRID)
    real_save = features.save_file
    saves = []

    def killed_mid_write(tensors, filename, metadata=None):
        """The third save writes half its file and the process 'dies' before the rename."""
        saves.append(filename)
        real_save(tensors, filename, metadata=metadata)
        if len(saves) == 3:
            _truncate_half(Path(filename))
            raise KeyboardInterrupt

    monkeypatch.setattr(features, "save_file", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        extract_features(clips, encoder, GRID, cache=cache, batch_size=1)
    monkeypatch.undo()
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".safetensors"]
    assert [str(p) for p in leftovers] == [saves[2]]
    assert len(entry_files(tmp_path)) == 2

    report = extract_features(clips, encoder, GRID, cache=cache)
    assert (report.cached, report.computed, report.failed) == (2, len(clips) - 2, {})
    assert len(load_features(clips, spec, cache)) == len(clips)


def test_bad_videos_are_reported_and_the_others_cached(clips, encoder, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    empty = bad / "empty clip.mp4"
    empty.write_bytes(b"")
    text = bad / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = bad / "truncated.mp4"
    truncated.write_bytes(clips[0].read_bytes()[:300])
    missing = bad / "missing.mp4"
    paths = [clips[0], empty, clips[1], text, clips[2], missing, truncated, *clips[3:]]
    statuses: dict[str, str] = {}
    for workers in (0, 1):
        cache = FeatureCache(tmp_path / f"cache{workers}")
        report = extract_features(
            paths, encoder, GRID, cache=cache, batch_size=4, workers=workers,
            on_video=lambda path, status: statuses.__setitem__(path, status),
        )
        assert sorted(report.failed) == sorted(str(p) for p in (empty, text, missing, truncated))
        for path, message in report.failed.items():
            assert path in message, message
        assert (report.total, report.computed, report.cached) == (len(paths), len(clips), 0)
        assert [statuses[str(p)] for p in paths].count("failed") == 4
        entries = load_features(paths, FeatureSpec.for_encoder(encoder, GRID), cache)
        assert sorted(entries) == sorted(clips)
        np.testing.assert_allclose(entries[clips[2]].features, direct(clips[2], encoder, GRID), rtol=1e-4, atol=1e-4)
    assert "empty" in report.failed[str(empty)]
    assert "does not exist" in report.failed[str(missing)] or "No such file" in report.failed[str(missing)]


@pytest.mark.parametrize("option, value", [("batch_size", 0), ("workers", -1)])
def test_bad_options_are_refused_naming_the_option(clips, encoder, tmp_path, option, value):
    with pytest.raises(ConfigError, match=option):
        extract_features(clips, encoder, GRID, cache=FeatureCache(tmp_path), **{option: value})


# --------------------------------------------------------------------------- kill and restart

SUMMARY = re.compile(r"(\d+) videos: (\d+) computed .*?(\d+) from cache, (\d+) failed")


def _cli(dataset: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "vidclass", "extract", str(dataset), "--backbone", BACKBONE,
        "--pretrained", "none", "--frames", "4", "--inputs", "appearance+rgbdiff", "--cache", str(cache),
    ]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "240"}
    with open(log, "wb") as out:  # a file, not a pipe: a killed run's children cannot block the reader
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _kill_midway(args: list[str], cache: Path, total: int, log: Path) -> dict[Path, tuple[int, int]] | None:
    """Start the extraction, SIGKILL it (and its decode workers) once some but not all entries exist.

    Returns the entries present after the kill, or None if the run finished first.
    """
    process = _start(args, log)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if any(cache.rglob("*.safetensors")):
                break
            time.sleep(0.01)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    done = entry_files(cache)
    if process.returncode != -signal.SIGKILL or len(done) >= total:
        assert process.returncode in (0, -signal.SIGKILL), log.read_text()
        return None
    return done


@pytest.mark.slow
def test_a_killed_extraction_resumes_with_only_the_unfinished_videos(encoder, tmp_path):
    for attempt, per_class in enumerate((40, 120, 300)):
        dataset = tmp_path / f"set{attempt}"
        clips = make_clips(dataset, per_class=per_class, seed=attempt)
        cache = tmp_path / f"cache{attempt}"
        args = _cli(dataset, cache)
        before = _kill_midway(args, cache, len(clips), tmp_path / f"killed{attempt}.log")
        if before is not None:
            break
    else:
        pytest.fail("every extraction finished before it could be killed; the resume was never tested")
    assert 0 < len(before) < len(clips)

    log = tmp_path / "resumed.log"
    resumed = _start(args, log)
    assert resumed.wait(timeout=600) == 0, log.read_text()
    summary = SUMMARY.search(" ".join(log.read_text().split()))
    assert summary, log.read_text()
    total, computed, cached, failed = map(int, summary.groups())
    assert (total, computed, cached, failed) == (len(clips), len(clips) - len(before), len(before), 0)

    after = entry_files(cache)
    assert len(after) == len(clips)
    assert {path: after[path] for path in before} == before  # finished entries were not rewritten
    spec = FeatureSpec.for_encoder(encoder, 8, pair_image="rgbdiff")
    store = FeatureCache(cache)
    assert sorted(store.entry_path(spec, fingerprint(path)) for path in clips) == sorted(after)
    entries = load_features(clips, spec, store)
    assert len(entries) == len(clips)
    first_run = [path for path in clips if store.entry_path(spec, fingerprint(path)) in before]
    second_run = [path for path in clips if store.entry_path(spec, fingerprint(path)) not in before]
    for path in (first_run[0], second_run[-1]):
        np.testing.assert_allclose(entries[path].features, direct(path, encoder, 8), rtol=1e-4, atol=1e-4)


def test_a_track_decoded_in_chunks_equals_one_decoded_whole_and_a_failed_chunk_fails_its_source_alone(
        clips, encoder, tmp_path, monkeypatch):
    from collections import Counter

    from vidclass.data.recordings import Source
    from vidclass.errors import VideoReadError
    from vidclass.inputs import extraction
    from vidclass.inputs.tracks import extract_tracks

    sources = [Source(path, 0.0, 1.0, "a", path.stem) for path in clips[:2]]
    rates = [8.0, 8.0]  # every frame of the 1 s clips
    whole, _ = extract_tracks(sources, encoder, rates, cache=FeatureCache(tmp_path / "whole"), pair_image="rgbdiff",
                              workers=0)
    monkeypatch.setattr(extraction, "CHUNK_FRAMES", 3)  # three chunks per track, CNN batches across them
    chunked, report = extract_tracks(sources, encoder, rates, cache=FeatureCache(tmp_path / "chunked"),
                                     pair_image="rgbdiff", batch_size=2, workers=2)
    assert report.computed == 2 and report.frames == 16
    for i in (0, 1):
        np.testing.assert_array_equal(chunked[i].features.indices, np.arange(8))
        np.testing.assert_allclose(chunked[i].features.features, whole[i].features.features, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(chunked[i].features.rgbdiff, whole[i].features.rgbdiff, rtol=1e-4, atol=1e-5)

    read, calls = video.read_frames, Counter()

    def second_chunk_fails(path, indices, **options):
        calls[Path(path)] += 1
        if Path(path) == clips[0] and calls[Path(path)] == 2:
            raise VideoReadError(path, "cannot be decoded")
        return read(path, indices, **options)

    monkeypatch.setattr(video, "read_frames", second_chunk_fails)
    cache = FeatureCache(tmp_path / "failing")
    tracks, report = extract_tracks(sources, encoder, rates, cache=cache, pair_image="rgbdiff", batch_size=4,
                                    workers=0)
    assert list(tracks) == [1] and report.computed == 1 and list(report.failed) == [str(clips[0])]
    _, report = extract_tracks(sources, encoder, rates, cache=cache, pair_image="rgbdiff", workers=0)
    assert report.cached == 1 and report.computed == 1  # the failed source left no entry


def test_segments_of_one_recording_probe_it_once(clips, encoder, tmp_path, monkeypatch):
    from vidclass.data.recordings import Source
    from vidclass.inputs.tracks import extract_tracks

    probed, real = [], video.probe
    monkeypatch.setattr(video, "probe", lambda path: probed.append(Path(path)) or real(path))
    halves = [Source(clips[0], 0.0, 0.5, "a", "r"), Source(clips[0], 0.5, 1.0, "b", "r")]
    tracks, report = extract_tracks(halves, encoder, [8.0, 8.0], cache=FeatureCache(tmp_path), workers=0)
    assert report.computed == 2 and sorted(tracks) == [0, 1]
    assert probed == [clips[0]]  # one demuxing pass for both segments, not one per segment
