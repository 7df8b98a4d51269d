"""Metrics: hand-computed scores, absent classes, binary top-k, the written files and training curves."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread
from sklearn.metrics import balanced_accuracy_score

from vidclass.errors import ConfigError, VidclassError
from vidclass.evaluation.metrics import (
    Evaluation,
    _confusion_figure,
    evaluate_predictions,
    format_evaluation,
    plot_training_curves,
    read_training_curves,
    write_evaluation,
)

LABELS = ["a", "b", "c"]
# 6 videos, true classes a a a b b c. Arg-max: a b a a b b (3 right); top-2 misses only video 3.
Y_TRUE = [0, 0, 0, 1, 1, 2]
PROBS = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.6, 0.1, 0.3],
        [0.5, 0.1, 0.4],
        [0.2, 0.7, 0.1],
        [0.1, 0.6, 0.3],
    ],
    dtype=np.float32,
)


def _hand_case(**kwargs) -> Evaluation:
    return evaluate_predictions(Y_TRUE, PROBS, LABELS, split="test", **kwargs)


def test_hand_computed_scores():
    ev = _hand_case(top_k=(2,), groups=["g1", "g1", "g2", "g3", "g3", None])
    assert (ev.split, ev.videos, ev.groups, ev.labels) == ("test", 6, 3, LABELS)
    assert ev.confusion == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    assert ev.accuracy == pytest.approx(3 / 6)
    assert ev.top_k == pytest.approx({1: 3 / 6, 2: 5 / 6})
    # recall a = 2/3, b = 1/2, c = 0
    assert ev.mean_class_accuracy == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # predicted a: 3 videos, 2 right; predicted b: 3 videos, 1 right; c never predicted
    expected = {
        "a": {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3},
        "b": {"precision": 1 / 3, "recall": 1 / 2, "f1": 2 / 5, "support": 2},
        "c": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert list(ev.per_class) == LABELS
    for name in LABELS:
        assert ev.per_class[name] == pytest.approx(expected[name]), name
    assert ev.averages["macro avg"]["f1"] == pytest.approx((2 / 3 + 2 / 5) / 3)
    np.testing.assert_allclose(ev.normalized_confusion(), [[2 / 3, 1 / 3, 0], [1 / 2, 1 / 2, 0], [0, 1, 0]])


def test_default_top_k_drops_k_not_below_class_count():
    assert set(_hand_case().top_k) == {1}  # k = 3 and 5 are not < 3 classes
    four = np.hstack([PROBS * 0.95, np.full((6, 1), 0.05, dtype=np.float32)])
    ev = evaluate_predictions(Y_TRUE, four, [*LABELS, "d"], split="val", top_k=(5, 3))
    assert list(ev.top_k) == [1, 3]
    assert ev.top_k[3] == 1.0  # the true class is always among the top 3 here (d is always last)


def test_ties_rank_the_lower_class_id_first_so_top1_equals_accuracy():
    probs = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4], [1 / 3, 1 / 3, 1 / 3]])
    ev = evaluate_predictions([1, 1, 2], probs, LABELS, split="test", top_k=(1, 2))
    assert ev.confusion == [[0, 0, 0], [1, 1, 0], [1, 0, 0]]
    assert ev.top_k[1] == ev.accuracy == pytest.approx(1 / 3)
    assert ev.top_k[2] == pytest.approx(2 / 3)  # video 2: classes 0 and 1 rank above the tied class 2


def test_class_absent_from_y_true():
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]])
    y = [0, 0, 1, 1]
    ev = evaluate_predictions(y, probs, LABELS, split="test")
    assert ev.confusion == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]
    assert ev.per_class["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert ev.per_class["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    # recall of c is undefined: mean class accuracy averages a (1/2) and b (1) only, like sklearn
    assert ev.mean_class_accuracy == pytest.approx(0.75)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ev.mean_class_accuracy == pytest.approx(balanced_accuracy_score(y, probs.argmax(1)))
    assert "no videos of c" in format_evaluation(ev)


def test_binary_reports_only_top1_and_handles_int_probabilities():
    y = [0, 1, 1, 0, 1]
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5], [0.0, 1.0]])
    ev = evaluate_predictions(y, probs, ["fight", "noFight"], split="all", top_k=(1, 2, 3))
    assert ev.top_k == pytest.approx({1: 4 / 5})
    assert ev.confusion == [[2, 0], [1, 2]]
    assert ev.mean_class_accuracy == pytest.approx((1 + 2 / 3) / 2)
    one_hot = evaluate_predictions(y, np.eye(2, dtype=int)[[0, 1, 0, 0, 1]], ["fight", "noFight"], split="all")
    assert one_hot.confusion == ev.confusion


def test_groups_counting():
    assert _hand_case().groups is None
    assert _hand_case(groups=[None] * 6).groups is None
    assert _hand_case(groups=["x"] * 6).groups == 1
    with pytest.raises(ConfigError, match="groups has 2 entries"):
        _hand_case(groups=["x", "y"])


@pytest.mark.parametrize(
    ("y_true", "probs", "labels", "message"),
    [
        (Y_TRUE[:5], PROBS, LABELS, r"probabilities must be videos x classes = 5 x 3"),
        (Y_TRUE, PROBS[:, :2] / PROBS[:, :2].sum(1, keepdims=True), LABELS, r"= 6 x 3 .*got shape \(6, 2\)"),
        ([0, 0, 0, 1, 1, 1], PROBS, ["a", "b"], r"6 x 2 .*got shape \(6, 3\)"),
        (Y_TRUE, PROBS[0], LABELS, r"got shape \(3,\)"),
        ([0, 0, 0, 1, 1, 3], PROBS, LABELS, r"class id 3, but there are 3 labels \(ids 0 to 2\)"),
        ([0.0, 0, 0, 1, 1, 2], PROBS, LABELS, r"integer class ids"),
        ([], np.zeros((0, 3)), LABELS, r"non-empty"),
        (Y_TRUE, np.log(PROBS), LABELS, r"softmax"),
        (Y_TRUE, np.where(PROBS > 0.65, np.nan, PROBS), LABELS, r"finite"),
        (Y_TRUE, PROBS, ["a", "b", "a"], r"unique, repeated: a"),
        ([0], np.ones((1, 1)), ["a"], r"at least 2 classes"),
    ],
)
def test_bad_inputs_raise_config_error(y_true, probs, labels, message):
    with pytest.raises(ConfigError, match=message):
        evaluate_predictions(y_true, probs, labels, split="test")


def test_bad_options_raise_config_error():
    with pytest.raises(ConfigError, match="top_k"):
        _hand_case(top_k=(0,))
    with pytest.raises(ConfigError, match="split"):
        evaluate_predictions(Y_TRUE, PROBS, LABELS, split="")


def test_to_dict_is_json_and_round_trips():
    ev = _hand_case(top_k=(2,), groups=list("aabbcc"))
    data = json.loads(json.dumps(ev.to_dict(), allow_nan=False))
    assert data == ev.to_dict()
    assert Evaluation.from_dict(data) == ev
    np.testing.assert_allclose(data["confusion_normalized"], ev.normalized_confusion())
    with pytest.raises(ConfigError, match="not an evaluation dict"):
        Evaluation.from_dict({"labels": LABELS})


def test_format_names_split_counts_scores_and_matrix():
    text = format_evaluation(_hand_case(top_k=(2,), groups=list("aabbcc")))
    assert "'test': 6 videos, 3 groups" in text
    assert "accuracy             0.5000  (3/6)" in text
    assert "mean class accuracy  0.3889" in text
    assert "top-2 accuracy       0.8333" in text
    assert any(line.split()[:5] == ["b", "0.3333", "0.5000", "0.4000", "2"] for line in text.splitlines())
    matrix = text[text.index("confusion matrix") :].splitlines()
    assert matrix[1].split() == LABELS
    assert [line.split() for line in matrix[2:]] == [["a", "2", "1", "0"], ["b", "1", "1", "0"], ["c", "0", "1", "0"]]
    assert "groups unknown" in format_evaluation(_hand_case())


def _assert_png(path, min_side=200):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert min(image.shape[:2]) >= min_side
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_write_evaluation_files(tmp_path):
    ev = _hand_case(top_k=(2,))
    paths = [f"clips/{name},{i}.mp4" for i, name in enumerate("uvwxyz")]  # a comma needs quoting
    out = write_evaluation(ev, tmp_path / "eval", paths=paths, y_true=Y_TRUE, probabilities=PROBS)
    assert out == {
        "metrics": tmp_path / "eval" / "metrics.json",
        "confusion": tmp_path / "eval" / "confusion_matrix.png",
        "predictions": tmp_path / "eval" / "predictions.csv",
    }
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == sorted(p.name for p in out.values())

    assert Evaluation.from_dict(json.loads(out["metrics"].read_text())) == ev

    with open(out["predictions"], newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["path", "true", "predicted", "correct", "p_a", "p_b", "p_c"]
    assert [r["path"] for r in rows] == paths
    assert [r["true"] for r in rows] == [LABELS[y] for y in Y_TRUE]
    assert [r["predicted"] for r in rows] == list("abaabb")
    assert [r["correct"] for r in rows] == ["1", "0", "1", "0", "1", "0"]
    read_back = np.array([[r[f"p_{c}"] for c in LABELS] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(read_back, PROBS)  # exact, not approximately

    _assert_png(out["confusion"])


def test_write_evaluation_with_groups_column(tmp_path):
    groups = ["g1", "g1", None, "g2", "g2", "g3"]
    ev = _hand_case(groups=groups)
    out = write_evaluation(
        ev, tmp_path, paths=[f"{i}.mp4" for i in range(6)], y_true=Y_TRUE, probabilities=PROBS, groups=groups
    )
    with open(out["predictions"], newline="") as file:
        rows = list(csv.DictReader(file))
    assert [r["group"] for r in rows] == ["g1", "g1", "", "g2", "g2", "g3"]


def test_write_evaluation_rejects_inputs_that_do_not_match(tmp_path):
    ev = _hand_case()
    paths = [f"{i}.mp4" for i in range(6)]
    with pytest.raises(ConfigError, match="paths has 5 entries"):
        write_evaluation(ev, tmp_path, paths=paths[:5], y_true=Y_TRUE, probabilities=PROBS)
    with pytest.raises(ConfigError, match="confusion matrices differ"):
        write_evaluation(ev, tmp_path, paths=paths, y_true=Y_TRUE, probabilities=PROBS[::-1])
    with pytest.raises(ConfigError, match=r"6 x 3"):
        write_evaluation(ev, tmp_path, paths=paths, y_true=Y_TRUE, probabilities=PROBS[:, :2])
    assert not any(tmp_path.iterdir())


def test_failed_write_keeps_old_file_and_leaves_no_partial(tmp_path, monkeypatch):
    ev = _hand_case()
    kwargs = {"paths": [f"{i}.mp4" for i in range(6)], "y_true": Y_TRUE, "probabilities": PROBS}
    out = write_evaluation(ev, tmp_path, **kwargs)
    before = out["confusion"].read_bytes()

    def broken_savefig(self, file, **kwargs):
        file.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        write_evaluation(ev, tmp_path, **kwargs)
    assert out["confusion"].read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion_matrix.png", "metrics.json", "predictions.csv"]


@pytest.mark.parametrize("n", [2, 20])
def test_confusion_class_names_do_not_overlap(n):
    labels = [f"class_{i}_{'x' * (i % 9)}" for i in range(n)]
    rng = np.random.default_rng(n)
    y = np.arange(3 * n) % n
    probs = rng.dirichlet(np.ones(n), size=3 * n)
    ev = evaluate_predictions(y, probs, labels, split="test")
    fig = _confusion_figure(ev)  # the figure write_evaluation saves, drawn here to measure its labels
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes[:2]:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            assert [t.get_text() for t in ticks] == labels
            boxes = [t.get_window_extent(renderer) for t in ticks]
            assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), "neighbouring class names overlap"
            figure_box = fig.bbox
            assert all(b.x0 >= 0 and b.y0 >= 0 and b.x1 <= figure_box.x1 and b.y1 <= figure_box.y1 for b in boxes)


LIGHTNING_CSV = """\
epoch,step,train_acc,train_loss,val_acc,val_loss
0,2,,,0.5,0.69
0,2,0.4,0.70,,
1,5,,,0.75,0.6
1,5,0.6,0.62,,
2,8,,,0.8,0.5
2,8,0.7,0.55,,
"""

# on_step and on_epoch both on: *_step rows every step, *_epoch once per epoch
LIGHTNING_STEP_EPOCH_CSV = """\
epoch,step,train_loss_epoch,train_loss_step,val/accuracy,val_loss
0,0,,0.9,,
0,1,,0.7,,
0,1,,,0.5,0.66
0,1,0.8,,,
1,2,,0.5,,
1,3,,0.3,,
1,3,,,0.75,0.44
1,3,0.4,,,
"""


def _assert_curves(curves, expected):
    assert sorted(curves) == sorted(expected)
    for name, points in expected.items():
        assert curves[name] == pytest.approx(points), name


def test_read_training_curves_from_lightning_csv(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(LIGHTNING_CSV)
    _assert_curves(
        read_training_curves(path),
        {
            "train_loss": {0: 0.70, 1: 0.62, 2: 0.55},
            "train_acc": {0: 0.4, 1: 0.6, 2: 0.7},
            "val_loss": {0: 0.69, 1: 0.6, 2: 0.5},
            "val_acc": {0: 0.5, 1: 0.75, 2: 0.8},
        },
    )
    path.write_text(LIGHTNING_STEP_EPOCH_CSV)
    _assert_curves(
        read_training_curves(path),
        {"train_loss": {0: 0.8, 1: 0.4}, "val_loss": {0: 0.66, 1: 0.44}, "val_acc": {0: 0.5, 1: 0.75}},
    )
    path.write_text(LIGHTNING_STEP_EPOCH_CSV.replace("train_loss_epoch", "other"))
    assert read_training_curves(path)["train_loss"] == pytest.approx({0: 0.8, 1: 0.4})  # mean of the steps


def test_plot_training_curves_writes_png(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(LIGHTNING_CSV)
    out = plot_training_curves(path, tmp_path / "plots" / "curves.png", best_epoch=2)
    assert out == tmp_path / "plots" / "curves.png"
    _assert_png(out)
    path.write_text(LIGHTNING_STEP_EPOCH_CSV)  # no train accuracy: that curve is simply absent
    _assert_png(plot_training_curves(path, tmp_path / "curves2.png"))
    assert not list(tmp_path.rglob("*.partial"))


def test_training_curves_errors_name_the_file(tmp_path):
    path = tmp_path / "metrics.csv"
    with pytest.raises(VidclassError, match="metrics.csv: cannot read"):
        read_training_curves(path)
    path.write_text("step,train_loss\n0,0.5\n")
    with pytest.raises(VidclassError, match="no 'epoch' column"):
        read_training_curves(path)
    path.write_text("epoch,step,lr\n0,0,0.1\n")
    with pytest.raises(VidclassError, match="no train/val loss or accuracy columns"):
        plot_training_curves(path, tmp_path / "c.png")
    path.write_text("epoch,step,val_loss\n0,0,oops\n")
    with pytest.raises(VidclassError, match="line 2: not a number in 'val_loss'"):
        read_training_curves(path)
    assert not (tmp_path / "c.png").exists()
