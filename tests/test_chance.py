"""A model that learnt nothing says so: in the evaluation of train and evaluate, and in the comparison's table."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner

from vidclass.cli import app
from vidclass.compare import run as compare_run
from vidclass.compare.recipes import Recipe
from vidclass.compare.report import summarize, table_rows
from vidclass.evaluation.chance import learnt_nothing, stopped_early
from vidclass.evaluation.metrics import evaluate_predictions, format_evaluation

LABELS = ["approaching", "receding", "still"]
TINY = ["--backbone", "timm:mobilenetv3_small_050", "--pretrained", "none", "--frames", "2", "--workers", "0",
        "--inputs", "appearance"]


def test_one_class_for_every_video_is_named_with_its_share():
    y = np.array([0, 1, 2] * 10)
    warning = learnt_nothing(y, np.zeros(30, dtype=int), LABELS)
    assert warning is not None and "is at chance level (0.333 for 3 classes" in warning
    assert "predicts 'approaching' for 100% of them" in warning and "vidclass compare" in warning


def test_predictions_at_chance_are_flagged_and_a_model_that_learnt_is_not():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    guessed = learnt_nothing(y, rng.integers(0, 3, 300), LABELS)  # guessing: about 1/3 of each class right
    assert guessed is not None and "at chance level" in guessed and "predicts" not in guessed
    learnt = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))  # right for 60 % + a third of the rest
    assert learnt_nothing(y, learnt, LABELS) is None
    assert learnt_nothing(np.zeros(10, int), np.zeros(10, int), LABELS) is None  # one class tested: no chance level
    assert learnt_nothing([0, 1], [0, 1], LABELS) is None  # two test videos, both right: not chance


def test_a_lopsided_test_split_answered_with_its_own_majority_is_still_at_chance():
    y = np.array([0] * 19 + [1])  # 95 % of one class: always answering it scores 0.95 accuracy
    warning = learnt_nothing(y, np.zeros(20, int), LABELS)
    assert warning is not None and "mean class accuracy 0.500" in warning
    assert "predicts" not in warning  # the labels are as lopsided as the predictions


def test_the_evaluation_report_carries_the_warning():
    y = np.array([0, 1] * 20)
    evaluation = evaluate_predictions(y, np.tile([0.7, 0.3], (40, 1)), ["a", "b"], split="test")
    assert any("may have learnt nothing" in warning for warning in evaluation.warnings)
    assert "warning: the model may have learnt nothing" in format_evaluation(evaluation)


def test_a_recipe_whose_pooled_folds_predict_one_class_is_marked_at_chance_in_the_table():
    def fold(k: int, right: bool) -> compare_run.FoldResult:
        truth = [0, 1, 0, 1, 0, 1]
        probabilities = [[0.9, 0.1] if not right or t == 0 else [0.1, 0.9] for t in truth]
        accuracy = float(np.mean([np.argmax(p) == t for p, t in zip(probabilities, truth)]))
        return compare_run.FoldResult("r", k, {}, accuracy, accuracy, 1.0, [], truth, probabilities)

    recipe = Recipe("r", "features", "a recipe", {"head": "linear"})
    stuck, = summarize([compare_run.RecipeOutcome(recipe, [fold(k, right=False) for k in range(3)])], 3, ["a", "b"])
    assert stuck.status == "ok" and "predicts 'a' for 100%" in stuck.learnt_nothing
    assert table_rows([stuck])[0][-1] == "ok, at chance" and table_rows([stuck])[0][0] == "1"  # ranked, marked
    good, = summarize([compare_run.RecipeOutcome(recipe, [fold(k, right=True) for k in range(3)])], 3, ["a", "b"])
    assert good.learnt_nothing is None and table_rows([good])[0][-1] == "ok"


def test_a_head_that_stopped_in_its_first_epochs_says_its_optimisation_settings_do_not_fit():
    hint = stopped_early(0, 11, lr=1e-3, patience=10, batch_size=16)
    assert "best after epoch 1" in hint and "10 epochs later (patience 10)" in hint
    assert "--lr (e.g. 0.00033)" in hint and "--batch-size 8" in hint and "`--head linear`" in hint
    assert stopped_early(5, 16, lr=1e-3, patience=10, batch_size=16) is None  # it learnt for a while
    assert stopped_early(None, 0, lr=1e-3, patience=10, batch_size=16) is None  # fitted in one pass


def test_training_adds_the_early_stop_hint_only_to_a_model_that_learnt_nothing():
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.training.config import FitResult

    stopped = FitResult(epochs_run=11, best_epoch=0, best_val_loss=0.69, metrics_csv=None)
    y = np.array([0, 1] * 20)
    for probabilities, hinted in ((np.tile([0.7, 0.3], (40, 1)), True), (np.eye(2)[y], False)):
        model = VideoClassifier(head="attention")
        model.evaluation_ = evaluate_predictions(y, probabilities, ["a", "b"], split="test")
        model._warn_stopped_early(stopped)
        assert any("best after epoch 1" in warning for warning in model.evaluation_.warnings) == hinted


def _same_pixels(clips: list[Path], root: Path) -> Path:
    """Two classes whose videos are the same frames: every clip remuxed once into each class folder (other
    bytes, so other files and fingerprints; the same packets, so the same pixels). Nothing can be learnt."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for clip in clips:
            with av.open(str(clip)) as given, av.open(str(root / label / clip.name), mode="w") as written:
                written.metadata["comment"] = f"class {label}"
                stream = written.add_stream_from_template(given.streams.video[0])
                for packet in given.demux(given.streams.video[0]):
                    if packet.dts is not None:
                        packet.stream = stream
                        written.mux(packet)
    return root


def test_train_and_evaluate_warn_when_the_classes_cannot_be_told_apart(direction_dataset, tmp_path):
    runner = CliRunner()
    root = _same_pixels(sorted(direction_dataset.rglob("*.mp4")), tmp_path / "same")
    cache, run = str(tmp_path / "cache"), tmp_path / "run"
    trained = runner.invoke(app, ["train", str(root), *TINY, "--cache", cache, "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    assert "warning: the model may have learnt nothing" in trained.stdout and "for 100% of them" in trained.stdout
    evaluated = runner.invoke(app, ["evaluate", str(run / "model"), str(root), "--cache", cache,
                                    "--out", str(tmp_path / "eval")])
    assert evaluated.exit_code == 0, evaluated.output
    assert "warning: the model may have learnt nothing" in evaluated.stdout
