"""The command line: clean one-line errors, JSON output, the demo."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from vidclass.cli import app

runner = CliRunner()


def test_data_json_counts_the_synthetic_dataset(direction_dataset):
    result = runner.invoke(app, ["data", str(direction_dataset), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["clips"] == 12
    assert summary["labels"] == ["approaching", "receding"]
    assert summary["unreadable"] == []


def test_data_table_names_classes_and_split(direction_dataset):
    result = runner.invoke(app, ["data", str(direction_dataset)])
    assert result.exit_code == 0, result.output
    assert "approaching" in result.stdout and "split:" in result.stdout


def test_errors_are_one_clean_line_naming_the_path(tmp_path):
    missing = tmp_path / "no such dataset"
    result = runner.invoke(app, ["data", str(missing)])
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0] and lines[0].startswith("vidclass: error:")
    assert "Traceback" not in result.output


def test_verbose_adds_the_traceback(tmp_path):
    result = runner.invoke(app, ["--verbose", "data", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_data_reports_unreadable_files_and_goes_on(direction_dataset, tmp_path):
    root = tmp_path / "ds"
    for label in ("approaching", "receding"):
        (root / label).mkdir(parents=True)
        for clip in sorted((direction_dataset / label).glob("*.mp4"))[:2]:
            (root / label / clip.name).write_bytes(clip.read_bytes())
    (root / "approaching" / "broken clip.mp4").write_bytes(b"not a video at all")
    result = runner.invoke(app, ["data", str(root), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["clips"] == 4  # probed before the split: only readable clips are counted and split
    assert [entry["path"].endswith("broken clip.mp4") for entry in summary["unreadable"]] == [True]


def test_extract_and_train_default_to_the_library_inputs():
    """`vidclass extract` must cache what `vidclass train` will read, and both follow the library."""
    import inspect

    from vidclass.cli import datasets, training
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.inputs.views import DEFAULT_INPUTS

    assert inspect.signature(datasets.extract).parameters["inputs"].default == DEFAULT_INPUTS
    assert inspect.signature(training.train).parameters["inputs"].default is None  # the model kind's default:
    assert VideoClassifier().setting("inputs") == DEFAULT_INPUTS  # for frozen features, the library's
