"""Models trained on pixels, end to end: what fine-tuning learns that frozen features cannot, temporal
order for lrcn, an image folder labelling a video frame by frame, bundles and resumed runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from vidclass.data.synthetic import SyntheticSpec, make_direction_dataset, write_video
from vidclass.errors import ConfigError
from vidclass.estimator.classifier import VideoClassifier
from vidclass.models.backbones import create_backbone
from vidclass.use.predict import TimelineSettings, run_timeline
from vidclass.use.timeline import rolling_average

pytestmark = pytest.mark.slow

SIDE = 64
ARRANGEMENTS = ("red_over_blue", "blue_over_red")
RED, BLUE = (230, 30, 30), (30, 30, 230)
FAST = dict(lr=3e-3, backbone_lr=3e-3, workers=0)


def arrangement(rng: np.random.Generator, which: str) -> np.ndarray:
    """A red and a blue square stacked on a random mosaic: only their order tells the classes apart.

    Global pooling makes frozen ImageNet features blind to the arrangement of the same parts
    (a linear probe stays near chance, see below); a fine-tuned CNN learns it.
    """
    coarse = rng.integers(60, 180, size=(8, 8, 3), dtype=np.uint8)
    image = np.kron(coarse, np.ones((SIDE // 8, SIDE // 8, 1), dtype=np.uint8))
    side = 14
    x, y = int(rng.integers(4, SIDE - side - 4)), int(rng.integers(4, SIDE - 2 * side - 4))
    top, bottom = (RED, BLUE) if which == ARRANGEMENTS[0] else (BLUE, RED)
    image[y : y + side, x : x + side] = top
    image[y + side : y + 2 * side, x : x + side] = bottom
    return image


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """``ROOT/<arrangement>/NNN.png``: 50 images per class, as the PyImageSearch tutorial trains from."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(50):
        for which in ARRANGEMENTS:
            (root / which).mkdir(exist_ok=True)
            Image.fromarray(arrangement(rng, which)).save(root / which / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def frame_model(image_folder, tmp_path_factory) -> tuple[VideoClassifier, Path]:
    run = tmp_path_factory.mktemp("frame-run") / "run"
    model = VideoClassifier(model="frame", size=SIDE, epochs=12, patience=12, val=0.2, test=0.2, seed=0,
                            cache_dir=tmp_path_factory.mktemp("cache"), **FAST)
    return model.fit(image_folder, out_dir=run), run


def test_frozen_pooled_features_cannot_tell_the_arrangements_apart(image_folder):
    paths = sorted(image_folder.rglob("*.png"))
    images = np.stack([np.asarray(Image.open(p).resize((224, 224), Image.BICUBIC)) for p in paths])
    with torch.inference_mode():
        features = create_backbone()(torch.from_numpy(images)).numpy()
    labels = [ARRANGEMENTS.index(p.parent.name) for p in paths]
    accuracy = cross_val_score(LogisticRegression(max_iter=3000), features, labels, cv=5).mean()
    assert accuracy <= 0.65  # near chance: the baseline the fine-tuned frame model must beat


def test_a_fine_tuned_frame_model_learns_them_from_an_image_folder(frame_model):
    model, run = frame_model
    assert model.evaluation_.accuracy >= 0.95
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["model"]["kind"] == "frame" and config["model"]["config"]["size"] == SIDE
    assert {p.name for p in (run / "model").iterdir()} == {"config.json", "model.safetensors", "training_videos.txt"}


def _flickering_video(path: Path, segments: list[tuple[str, float]], fps: float = 10.0) -> Path:
    """Segments of one arrangement whose every 7th frame shows the other one (flicker)."""
    rng = np.random.default_rng(3)
    frames = []
    for which, seconds in segments:
        other = ARRANGEMENTS[1 - ARRANGEMENTS.index(which)]
        frames += [arrangement(rng, other if i % 7 == 3 else which) for i in range(int(seconds * fps))]
    return write_video(path, frames, fps)


def test_a_frame_model_from_images_labels_a_video_frame_by_frame_and_smoothing_removes_flicker(frame_model, tmp_path):
    model, run = frame_model
    loaded = VideoClassifier.load(run / "model", cache_dir=tmp_path / "cache")
    video = _flickering_video(tmp_path / "long.mp4", [("red_over_blue", 3), ("blue_over_red", 3), ("red_over_blue", 3)])
    raw = run_timeline(loaded, video, TimelineSettings(smooth=1))
    assert len(raw.starts) == 90  # every frame is a window
    np.testing.assert_allclose(np.diff(raw.starts), 0.1, atol=1e-6)
    truth = np.repeat([loaded.labels_.index(name) for name in ("red_over_blue", "blue_over_red", "red_over_blue")], 30)
    assert (raw.raw.argmax(axis=1) == truth).mean() >= 0.75  # the flicker frames are labelled as what they show
    smoothed = run_timeline(loaded, video, TimelineSettings(smooth=9))
    assert [s.label for s in smoothed.segments] == ["red_over_blue", "blue_over_red", "red_over_blue"]
    assert abs(smoothed.segments[1].start - 3) <= 1.0 and abs(smoothed.segments[1].end - 6) <= 1.0
    switches = lambda r: int((np.diff(r.smoothed.argmax(axis=1)) != 0).sum())  # noqa: E731
    assert switches(raw) >= 10 and switches(smoothed) == 2  # the flicker frames, then only the true changes
    np.testing.assert_allclose(smoothed.smoothed, rolling_average(raw.raw, 9))
    with pytest.raises(ConfigError, match="single frames"):
        run_timeline(loaded, video, TimelineSettings(window=2.0))


def test_other_models_refuse_an_image_folder(image_folder):
    with pytest.raises(ConfigError, match="only the frame model"):
        VideoClassifier(model="lrcn").fit(image_folder)


@pytest.fixture(scope="module")
def direction(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("direction")
    return make_direction_dataset(root, SyntheticSpec(clips_per_class=14, seconds=2.0, fps=8, size=SIDE, seed=2))


COLOUR_ORDERS = ("red_then_blue", "blue_then_red")


@pytest.fixture(scope="module")
def colour_order(tmp_path_factory) -> Path:
    """``ROOT/<order>/clip_NNN.mp4``: a square that is red for the first half of the clip and blue for the second,
    or the other way round, on a random mosaic. Both classes show the same frames in another order, so a frame
    model cannot tell them apart (it stays near chance) while a model of the sequence can."""
    root = tmp_path_factory.mktemp("colour-order")
    rng = np.random.default_rng(6)
    frames, side = 16, 20
    for order in COLOUR_ORDERS:
        first, second = (RED, BLUE) if order == COLOUR_ORDERS[0] else (BLUE, RED)
        for i in range(14):
            coarse = rng.integers(60, 180, size=(8, 8, 3), dtype=np.uint8)
            background = np.kron(coarse, np.ones((SIDE // 8, SIDE // 8, 1), dtype=np.uint8))
            x, y = (int(v) for v in rng.integers(4, SIDE - side - 4, size=2))
            clip = []
            for t in range(frames):
                image = background.copy()
                image[y : y + side, x : x + side] = first if t < frames // 2 else second
                clip.append(image)
            write_video(root / order / f"clip_{i:03d}.mp4", clip, fps=8.0)
    return root


ORDER = dict(size=SIDE, frames=8, val=0.2, test=0.3, seed=0, flip=False, **FAST)


@pytest.fixture(scope="module")
def frame_on_colour_order(colour_order, tmp_path_factory) -> VideoClassifier:
    """The order-blind baseline: a fine-tuned frame model, clip = mean of its frames."""
    return VideoClassifier(model="frame", epochs=6, patience=6, cache_dir=tmp_path_factory.mktemp("cache"),
                           **ORDER).fit(colour_order)


def test_lrcn_learns_temporal_order_where_a_frame_model_stays_near_chance(colour_order, frame_on_colour_order,
                                                                          tmp_path):
    shared = dict(cache_dir=tmp_path / "cache", **ORDER)
    # The end-to-end path with a frozen trunk (20 training clips are too few to fine-tune the CNN too). On the
    # approaching/receding task (the size of a square) this setting plateaued at 0.83-0.88 on 64 px frames, with
    # 2 CPU threads or 1 giving different clips wrong: too little signal for an exact test. Here it scores 1.0
    # with a validation loss of 0.008 after 30 epochs, and the frame model 0.62.
    lrcn = VideoClassifier(model="lrcn", head="bilstm", freeze_stages=-1, epochs=30, patience=30, **shared)
    lrcn.fit(colour_order, out_dir=tmp_path / "lrcn")
    assert lrcn.evaluation_.accuracy >= 0.95
    assert frame_on_colour_order.evaluation_.accuracy <= 0.75
    videos = sorted(colour_order.rglob("*.mp4"))[:4]
    loaded = VideoClassifier.load(tmp_path / "lrcn" / "model", cache_dir=tmp_path / "other-cache")
    np.testing.assert_allclose(loaded.predict_proba(videos), lrcn.predict_proba(videos), atol=1e-6)


# The rest of the catalogue on the same task (issue 10), each from its own starting point: early fusion and the
# inflated 3D network from the ImageNet backbone, C3D-small and ConvLSTM from scratch. Measured with these
# settings (the same clips and split, default threads): early_fusion 1.0, c3d_small 1.0, convlstm 1.0 (1.0 =
# every test clip; at 15 epochs early fusion had 0.875).
CATALOGUE_ORDER = {
    "early_fusion": dict(model="early_fusion", epochs=30, patience=30),
    "3d-c3d_small": dict(model="3d", arch="c3d_small", epochs=20, patience=20),
    "convlstm": dict(model="convlstm", epochs=20, patience=20),
}


@pytest.mark.parametrize("name", CATALOGUE_ORDER)
def test_the_catalogue_models_learn_temporal_order_where_a_frame_model_stays_near_chance(
        name, colour_order, frame_on_colour_order, tmp_path):
    model = VideoClassifier(cache_dir=tmp_path / "cache", **ORDER, **CATALOGUE_ORDER[name]).fit(colour_order)
    assert model.evaluation_.accuracy >= 0.95, name
    assert frame_on_colour_order.evaluation_.accuracy <= 0.75


def test_a_killed_run_resumes_from_its_last_checkpoint(direction, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "vidclass", "train", str(direction), "--out", str(run), "--model", "frame",
               "--backbone", "timm:mobilenetv3_small_050", "--pretrained", "none", "--frames", "2",
               "--size", "32", "--epochs", "30", "--patience", "30", "--cache", str(tmp_path / "cache"),
               "--workers", "0"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = run.with_name(".run.partial") / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not run.exists()  # an unfinished run never appears as the run folder
    done = torch.load(last, map_location="cpu", weights_only=False)["epoch"]  # our own checkpoint
    assert done < 29
    resumed = subprocess.run(command + ["--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    rows = [int(row.split(",")[0]) for row in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert set(range(done + 1, 30)) <= set(rows)  # it went on where it stopped ...
    assert all(rows.count(epoch) <= 2 for epoch in set(rows))  # ... and repeated no epoch (train + val rows)
    assert (run / "model" / "model.safetensors").is_file() and not last.parent.parent.exists()
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 1 and "not empty" in again.stderr and "--overwrite" in again.stderr
