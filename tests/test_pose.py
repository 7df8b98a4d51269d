"""Pose landmarks: BlazePose on a real photo, vectors, slot tracking, brought keypoints, pose inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from vidclass.errors import DatasetError
from vidclass.inputs.features import FeatureCache
from vidclass.inputs.pose import (
    BLAZEPOSE33,
    COCO17,
    PERSON_DIM,
    BlazePose,
    PoseSpec,
    SlotTracker,
    estimate_frames,
    frame_vectors,
    normalised,
    pose_features,
    to_coco,
    velocities,
)
from vidclass.inputs.pose.blazepose import anchor_centres
from vidclass.inputs.pose.extract import estimator
from vidclass.inputs.pose.vectors import person_vector, skeleton_box
from vidclass.inputs.views import ViewSpec, model_inputs
from vidclass.media import video
from vidclass.media.render import AnnotatedVideoWriter

ASTRONAUT_FACE = (150, 60, 280, 190)  # x0, y0, x1, y1 of her face in data.astronaut() (512 x 512)


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 8.0) -> Path:
    with AnnotatedVideoWriter(path, fps, lossless=True) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory) -> Path:
    """6 frames, 480 x 320: the astronaut, shrunk to 320 px, sliding right on a grey background."""
    face = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320), Image.Resampling.BILINEAR))
    frames = []
    for step in range(6):
        frame = np.full((320, 480, 3), 90, np.uint8)
        frame[:, 20 * step : 20 * step + 320] = face
        frames.append(frame)
    return _write_video(tmp_path_factory.mktemp("pose") / "astronaut.mp4", frames)


@pytest.fixture(scope="module")
def empty_video(tmp_path_factory) -> Path:
    """8 frames of a moving gradient: no person anywhere."""
    x = np.linspace(0, 255, 160)
    frames = [np.stack([np.tile((x + 20 * t) % 256, (120, 1))] * 3, axis=-1).astype(np.uint8) for t in range(8)]
    return _write_video(tmp_path_factory.mktemp("pose") / "nobody.mp4", frames)


def test_anchors_match_the_detector_outputs():
    centres = anchor_centres()
    assert centres.shape == (2254, 2)  # the detector's Identity tensor is (1, 2254, 12)
    assert centres.min() > 0 and centres.max() < 1
    assert np.allclose(centres[0], [0.5 / 28, 0.5 / 28]) and np.allclose(centres[1], centres[0])


def test_blazepose_finds_the_astronaut():
    people = BlazePose()(data.astronaut())
    assert len(people) == 1
    keypoints = people[0].keypoints
    assert keypoints.shape == (33, 3)
    x0, y0, x1, y1 = ASTRONAUT_FACE
    for name in ("nose", "left_eye", "right_eye"):
        x, y, visibility = keypoints[BLAZEPOSE33.index(name)]
        assert x0 < x < x1 and y0 < y < y1 and visibility > 0.9, name
    nose_y = keypoints[BLAZEPOSE33.index("nose"), 1]
    shoulders = keypoints[[BLAZEPOSE33.index("left_shoulder"), BLAZEPOSE33.index("right_shoulder")]]
    assert (shoulders[:, 1] > nose_y + 50).all()
    # her left shoulder is on the right of the picture
    assert shoulders[0, 0] > shoulders[1, 0]


def test_blazepose_finds_nobody_in_noise_and_grey():
    model = BlazePose()
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert model(noise) == [] and model(np.full((240, 320, 3), 128, np.uint8)) == []


def test_wide_frames_are_tiled_and_a_person_is_found_once():
    model = BlazePose()
    wide = np.zeros((512, 1100, 3), np.uint8)
    wide[:, 300:812] = data.astronaut()
    regions = model.views(1100, 512)
    assert regions[0] == (0, 0, 1100, 512) and len(regions) > 1
    assert all(w == h == 512 and x + w <= 1100 for x, _, w, h in regions[1:])
    people = model(wide)
    assert len(people) == 1
    assert 300 + ASTRONAUT_FACE[0] < people[0].keypoints[0, 0] < 300 + ASTRONAUT_FACE[2]


def _skeleton(centre: tuple[float, float], height: float, score: float = 0.9) -> np.ndarray:
    """A standing COCO-17 skeleton ``height`` pixels tall, hips at ``centre``."""
    rng = np.random.default_rng(3)
    unit = np.array([
        [0, -0.85], [-0.05, -0.9], [0.05, -0.9], [-0.1, -0.88], [0.1, -0.88], [-0.2, -0.6], [0.2, -0.6],
        [-0.3, -0.3], [0.3, -0.3], [-0.35, 0.0], [0.35, 0.0], [-0.12, 0], [0.12, 0], [-0.13, 0.45],
        [0.13, 0.45], [-0.14, 0.9], [0.14, 0.9],
    ]) + rng.normal(0, 0.02, (17, 2))
    xy = np.asarray(centre) + unit * height / 1.8
    return np.column_stack([xy, np.full(17, score)]).astype(np.float32)


def test_normalisation_ignores_translation_and_scale():
    skeleton = _skeleton((200, 300), 180)
    moved = skeleton.copy()
    moved[:, :2] = moved[:, :2] * 2.5 + np.array([-310.0, 75.0])
    assert np.allclose(normalised(skeleton), normalised(moved), atol=1e-5)
    hips = skeleton[[11, 12], :2].mean(0)
    shoulders = skeleton[[5, 6], :2].mean(0)
    assert np.allclose(np.linalg.norm(normalised(skeleton)[[5, 6]].mean(0) - normalised(skeleton)[[11, 12]].mean(0)), 1.0)
    assert np.allclose(normalised(skeleton)[[11, 12]].mean(0), 0, atol=1e-6) and not np.allclose(hips, shoulders)
    # the placement part does follow the person: the hips move right, the torso doubles
    a, b = person_vector(skeleton, 640, 480), person_vector(moved, 1600, 1200)
    assert a.shape == (PERSON_DIM,) and np.allclose(a[:51], b[:51], atol=1e-5) and a[-1] == b[-1] == 1
    assert not np.allclose(a[51:54], b[51:54])


def test_missing_joints_are_zero_and_do_not_move_the_centre():
    skeleton = _skeleton((200, 300), 180)
    partial = skeleton.copy()
    partial[[0, 9, 15], :] = 0.0  # nose, a wrist and an ankle not found
    result = normalised(partial)
    assert np.all(result[[0, 9, 15]] == 0)
    assert np.allclose(result[[1, 2, 5, 6, 11, 12]], normalised(skeleton)[[1, 2, 5, 6, 11, 12]], atol=1e-6)


def test_slot_tracking_keeps_two_people_who_cross_paths():
    # A walks right, B walks left along the same line; they meet halfway, exactly overlapping
    frames, truth = [], []
    rng = np.random.default_rng(0)
    for t in range(11):
        a, b = _skeleton((100 + 30 * t, 300), 160), _skeleton((400 - 30 * t, 300), 160)
        order = rng.permutation(2)  # the estimator lists people in any order
        frames.append([(a, b)[i] for i in order])
        truth.append(["a", "b"][order[0]])
    vectors, slotted = frame_vectors(frames, 640, 480, people=3)
    assert vectors.shape == (11, 3 * PERSON_DIM)
    hips_x = slotted[:, :, [11, 12], 0].mean(axis=2)  # (T, slots)
    first_a = int(np.argmin(hips_x[0, :2]))  # slot of A: the one on the left at the start
    assert np.all(np.diff(hips_x[:, first_a]) > 0), "A's slot must keep moving right"
    assert np.all(np.diff(hips_x[:, 1 - first_a]) < 0), "B's slot must keep moving left"
    assert np.all(vectors.reshape(11, 3, -1)[:, 2] == 0)  # the third slot stays empty


def test_slot_tracking_masks_people_who_leave_and_gives_their_slot_back():
    tracker = SlotTracker(2, patience=1)
    a, b, c = (skeleton_box(_skeleton((x, 200), 150)) for x in (100, 400, 250))
    assert tracker.assign([a, b]) == [0, 1]
    assert tracker.assign([a]) == [0]  # B left: slot 1 empty in this frame
    assert tracker.assign([a]) == [0]
    assert tracker.assign([a, c]) == [0, 1]  # B's track was forgotten; C takes the free slot
    assert tracker.assign([a, c, b]) == [0, 1, None]  # no room for a third


def test_velocity_is_zero_for_empty_slots_and_padded_frames():
    skeletons = [[_skeleton((100 + 10 * t, 200), 150)] + ([_skeleton((400, 200), 150)] if t != 2 else []) for t in range(5)]
    vectors, _ = frame_vectors(skeletons, 640, 480, people=2)
    mask = np.array([True, True, True, True, False])
    change = velocities(vectors, mask).reshape(5, 2, PERSON_DIM)
    assert np.all(change[0] == 0) and np.all(change[4] == 0)
    assert np.all(change[2:4, 1] == 0)  # slot 1 empty at frame 2: no velocity into or out of it
    assert np.allclose(change[1, 0, 51], 10 / 640, atol=1e-6)  # the hips moved 10 px right
    spec = ViewSpec(frames=5, grid=5, inputs="pose+velocity", people=2)
    x = model_inputs(np.zeros((5, 0), np.float32), mask, spec, pose=vectors)
    assert x.shape == (5, spec.input_dim(1280)) == (5, 4 * PERSON_DIM)
    both = ViewSpec(frames=5, grid=5, inputs="appearance+pose", people=2)
    assert both.input_dim(1280) == 1280 + 2 * PERSON_DIM


def test_pose_features_of_a_video_with_nobody_are_masked_and_reported(empty_video, tmp_path):
    found, report = pose_features([empty_video], PoseSpec(people=2), 4, cache=FeatureCache(tmp_path), workers=0)
    entry = found[empty_video]
    assert entry.features.shape == (4, 2 * PERSON_DIM) and not entry.features.any()
    assert report.nobody == [str(empty_video)] and report.people == [0, 0, 0, 0]


def test_pose_features_are_cached_and_brought_keypoints_match_them(astronaut_video, tmp_path):
    spec = PoseSpec(people=2)
    cache = FeatureCache(tmp_path / "cache")
    found, report = pose_features([astronaut_video], spec, 6, cache=cache, workers=0)
    computed = found[astronaut_video]
    assert report.computed == 1 and report.people == [1] * 6 and not report.nobody
    again, report = pose_features([astronaut_video], spec, 6, cache=cache, workers=0)
    assert report.cached == 1 and np.array_equal(again[astronaut_video].features, computed.features)

    # what another tool would have written: the same people in the video's own pixels
    info = video.probe(astronaut_video)
    frames = video.read_frames(astronaut_video, range(info.num_frames), size=spec.size, info=info)
    vectors, _ = estimate_frames(frames, spec.people, estimator(spec.people))
    assert np.allclose(vectors, computed.features)
    to_video = info.height / frames.shape[1]
    people = [[p.keypoints * [to_video, to_video, 1] for p in estimator(spec.people)(frame)] for frame in frames]
    folder = tmp_path / "keypoints"
    (folder / "nested").mkdir(parents=True)
    json_file = folder / "astronaut.json"
    json_file.write_text(json.dumps({"layout": "blazepose33", "frames": [
        {"frame": i, "people": [p.tolist() for p in found_here]} for i, found_here in enumerate(people)
    ]}))
    json_found, _ = pose_features([astronaut_video], PoseSpec(people=2, keypoints=str(folder)), 6, cache=cache)
    assert np.allclose(json_found[astronaut_video].features, computed.features, atol=1e-4)

    json_file.unlink()
    with (folder / "nested" / "astronaut.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["frame", "person", "keypoint", "x", "y", "score"])
        for i, found_here in enumerate(people):
            for n, person in enumerate(found_here):
                for name, (x, y, score) in zip(COCO17, to_coco(person, "blazepose33")):
                    writer.writerow([i, n, name, x, y, score])
    nested = astronaut_video.parent / "nested" / astronaut_video.name
    nested.parent.mkdir(exist_ok=True)
    nested.write_bytes(astronaut_video.read_bytes())
    csv_found, _ = pose_features([nested], PoseSpec(people=2, keypoints=str(folder)), 6, cache=cache)
    assert np.allclose(csv_found[nested].features, computed.features, atol=1e-4)


def test_brought_keypoints_errors_name_the_file(astronaut_video, tmp_path):
    found, report = pose_features([astronaut_video], PoseSpec(keypoints=str(tmp_path)), 4, cache=FeatureCache(tmp_path))
    assert not found and "astronaut.json" in report.failed[str(astronaut_video)]
    (tmp_path / "astronaut.json").write_text(json.dumps([{"frame": 0, "people": [[[1, 2, 0.5]] * 20]}]))
    _, report = pose_features([astronaut_video], PoseSpec(keypoints=str(tmp_path)), 4, cache=FeatureCache(tmp_path))
    message = report.failed[str(astronaut_video)]
    assert "astronaut.json" in message and "20 keypoints" in message
    from vidclass.inputs.pose import read_keypoints

    (tmp_path / "bad.csv").write_text("frame,person,keypoint,x,y,score\n0,0,elbow_left,1,2,0.5\n")
    with pytest.raises(DatasetError, match="bad.csv.*elbow_left"):
        read_keypoints(tmp_path / "bad.csv", 640, 480)


@pytest.mark.slow
def test_a_pose_model_learns_from_brought_keypoints_and_round_trips(direction_dataset, astronaut_video, tmp_path):
    """pose+velocity on keypoints of people who walk towards the camera (grow) or away (shrink)."""
    from vidclass.data.catalog import load_catalog
    from vidclass.estimator.classifier import VideoClassifier

    catalog = load_catalog(direction_dataset)
    folder = tmp_path / "keypoints"
    for item in catalog.items:
        info = video.probe(item.path)
        grow = 1.0 if item.label == "approaching" else -1.0
        frames = [
            {"frame": i, "people": [_skeleton((48, 60), 40 + grow * 2.0 * (i - info.num_frames / 2)).tolist()]}
            for i in range(info.num_frames)
        ]
        target = folder / item.path.parent.name / f"{item.path.stem}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"layout": "coco17", "frames": frames}))
    cache = tmp_path / "cache"
    model = VideoClassifier(head="gru", frames=6, inputs="pose+velocity", pose_people=1, keypoints=folder,
                            epochs=40, patience=40, cache_dir=cache, workers=0)
    model.fit(direction_dataset, out_dir=tmp_path / "run")
    assert model.training_["no_people"] == []
    assert not (cache / "efficientnet_lite0").exists()  # pose-only inputs need no CNN features
    paths = [item.path for item in catalog.items]
    probabilities = model.predict_proba(paths)
    truth = np.array([model.labels_.index(item.label) for item in catalog.items])
    assert (probabilities.argmax(axis=1) == truth).mean() >= 0.9
    loaded = VideoClassifier.load(tmp_path / "run" / "model", cache_dir=cache, workers=0)
    assert loaded.view_.inputs == "pose+velocity" and loaded.view_.people == 1
    loaded.keypoints = folder
    assert np.allclose(loaded.predict_proba(paths), probabilities, atol=1e-6)
    from vidclass.use.predict import run_timeline

    result = run_timeline(loaded, paths[0])  # a timeline estimates poses itself: nobody in the squares
    assert len(result.starts) >= 1 and np.allclose(result.raw.sum(axis=1), 1.0)

    from typer.testing import CliRunner

    from vidclass.cli import app

    outputs = {}
    for name, extra in (("plain", []), ("pose", ["--draw-pose"])):
        outputs[name] = tmp_path / f"{name}.mp4"
        run = CliRunner().invoke(app, ["timeline", str(tmp_path / "run" / "model"), str(astronaut_video),
                                       "--out", str(outputs[name]), *extra])
        assert run.exit_code == 0, run.output
    plain, posed = (video.read_frames(outputs[name], [3]) for name in ("plain", "pose"))
    assert np.abs(plain.astype(int) - posed.astype(int)).max() > 100  # the skeleton is drawn
    run = CliRunner().invoke(app, ["timeline", str(tmp_path / "run" / "model"), str(astronaut_video), "--draw-pose"])
    assert run.exit_code == 1 and "--draw-pose" in run.output


def test_a_stream_with_pose_inputs_sees_whole_frames_and_keeps_slots(astronaut_video):
    from vidclass.estimator.stream import features_stream
    from vidclass.models.backbones import create_backbone
    from vidclass.models.heads import create_head

    encoder = create_backbone("efficientnet_lite0", pretrained=False)
    view = ViewSpec(frames=3, grid=6, inputs="appearance+pose", people=2)
    head = create_head("mean", in_dim=view.input_dim(encoder.spec.dim), num_classes=2)
    stream = features_stream(encoder, head, view, 1.0, ["a", "b"])
    assert stream.crop is None  # the estimator needs the whole frame; the CNN gets its centre crop
    frames = video.read_frames(astronaut_video, range(6), size=stream.resize)
    first, second = stream.encode(frames[:3], None), stream.encode(frames[3:], None)
    encoded = np.concatenate([first, second])
    assert encoded.shape == (6, encoder.spec.dim + 2 * PERSON_DIM)
    presence = encoded[:, encoder.spec.dim:].reshape(6, 2, PERSON_DIM)[:, :, -1]
    assert np.all(presence[:, 0] == 1) and np.all(presence[:, 1] == 0)  # one person, in the same slot throughout
    crop = encoder.spec.preprocess.crop
    cropped = video.read_frames(astronaut_video, range(3), size=stream.resize, crop=crop)
    import torch

    with torch.inference_mode():
        assert np.allclose(encoded[:3, : encoder.spec.dim], encoder(torch.from_numpy(cropped)).numpy(), atol=1e-5)
    probabilities = stream.classify(encoded[None, :3])
    assert probabilities.shape == (1, 2) and np.isclose(probabilities.sum(), 1.0)


def test_appearance_and_pose_come_from_one_decoding_pass(astronaut_video, tmp_path, monkeypatch):
    from vidclass.inputs.extraction import extract_features
    from vidclass.inputs.features import FeatureSpec, load_features
    from vidclass.models.backbones import create_backbone

    encoder = create_backbone("efficientnet_lite0", pretrained=False)
    spec = PoseSpec(people=2)
    alone, _ = pose_features([astronaut_video], spec, 6, cache=FeatureCache(tmp_path / "alone"), workers=0)
    plain = FeatureCache(tmp_path / "plain")
    extract_features([astronaut_video], encoder, 6, cache=plain, workers=0)

    decoded = []
    real_read = video.read_frames
    monkeypatch.setattr(video, "read_frames", lambda *a, **k: decoded.append(k.get("crop")) or real_read(*a, **k))
    both = FeatureCache(tmp_path / "both")
    extract_features([astronaut_video], encoder, 6, cache=both, workers=0, pose=spec)
    assert decoded == [None]  # one pass, whole frames: the CNN's centre crop is cut from them
    found, report = pose_features([astronaut_video], spec, 6, cache=both, workers=0)
    assert report.cached == 1 and decoded == [None]
    assert np.allclose(found[astronaut_video].features, alone[astronaut_video].features)
    cnn = FeatureSpec.for_encoder(encoder, 6)
    assert np.array_equal(load_features([astronaut_video], cnn, both)[astronaut_video].features,
                          load_features([astronaut_video], cnn, plain)[astronaut_video].features)


def test_draw_pose_draws_limbs_of_people_and_nothing_for_empty_slots():
    from vidclass.inputs.pose import COCO_EDGES
    from vidclass.media.render import draw_pose

    frame = np.zeros((240, 320, 3), np.uint8)
    person = _skeleton((160, 140), 160)
    drawn = draw_pose(frame, np.stack([person, np.zeros_like(person)]), COCO_EDGES)
    changed = drawn.any(axis=2)
    assert changed.sum() > 200  # limbs and joints
    ys, xs = np.nonzero(changed)
    box = skeleton_box(person)
    assert xs.min() >= box[0] - 5 and xs.max() <= box[2] + 5 and ys.min() >= box[1] - 5 and ys.max() <= box[3] + 5
    low = person.copy()
    low[:, 2] = 0.1  # below min_score: not drawn
    assert not draw_pose(frame, low[None], COCO_EDGES).any()


def test_pose_overlay_draws_what_the_model_samples(astronaut_video):
    from vidclass.inputs.pose.overlay import PoseOverlay

    frames = video.read_frames(astronaut_video, range(6))
    overlay = PoseOverlay(PoseSpec(people=2), rate=4.0)  # the video runs at 8 fps: every other frame
    calls = []
    real = overlay._estimate
    overlay._estimate = lambda frame: calls.append(1) or real(frame)
    shown = [overlay(frame, i / 8) for i, frame in enumerate(frames)]
    assert len(calls) == 3
    nose = overlay.skeletons[0, 0]  # the last sampled frame's person, in the video's own pixels
    assert nose[2] > 0.9 and 100 + 150 * 320 / 512 < nose[0] < 100 + 280 * 320 / 512
    assert all((a != b).any() for a, b in zip(shown, frames))


def test_frames_with_nobody_are_masked_steps_for_pose_only_inputs():
    from vidclass.inputs.views import cut_view

    skeletons = [[_skeleton((100, 200), 150)] if t % 3 else [] for t in range(8)]
    vectors, _ = frame_vectors(skeletons, 640, 480, people=1)
    features, mask = np.zeros((8, 4), np.float32), np.ones(8, bool)
    for inputs, expected in (("pose", np.arange(8) % 3 != 0), ("appearance+pose", np.ones(8, bool))):
        spec = ViewSpec(frames=8, grid=8, inputs=inputs, people=1)
        x, steps = cut_view(features, mask, spec, pose=vectors)
        assert np.array_equal(steps, expected) and x.shape == (8, spec.input_dim(4))
    _, steps = cut_view(features, mask, ViewSpec(frames=8, grid=8, inputs="pose", people=1), pose=np.zeros_like(vectors))
    assert steps.tolist() == [True] + [False] * 7  # nobody anywhere: one step stands for the view
