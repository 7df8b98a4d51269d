"""Commands that fit and judge models: ``train``, ``evaluate``, ``recipes`` and ``compare``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import click
import typer

from vidclass.cli.app import app, console, print_json, print_table
from vidclass.cli.options import (
    CacheOpt,
    DatasetOptions,
    KeypointsOpt,
    PosePeopleOpt,
    PretrainedOpt,
    WeightsOpt,
    dataset_options,
    parse_pretrained,
    read_dataset,
    report_engine,
    report_left_out,
    report_no_people,
)
from vidclass.errors import VidclassError


@app.command()
@dataset_options
def train(
    ctx: typer.Context,
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    out: Annotated[Path, typer.Option("--out", help="Run folder: config, metrics, curves, model/, evaluation/.")],
    recipe: Annotated[
        Optional[str], typer.Option(help="Start from a named recipe (see `vidclass recipes`); options given here win. "
                                    "best: the winner of --compare DIR.")
    ] = None,
    compare_dir: Annotated[
        Optional[Path], typer.Option("--compare", help="With --recipe best: the folder of a `vidclass compare` run.")
    ] = None,
    model_kind: Annotated[
        str, typer.Option("--model", help="features (frozen CNN + temporal head), frame, lrcn, early_fusion, 3d or "
                          "convlstm: see `vidclass models`.")
    ] = "features",
    arch: Annotated[
        Optional[str],
        typer.Option(help="--model 3d: inflated (default: the ImageNet backbone inflated to 3D, offline), c3d_small "
                     "(from scratch), or r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v2_s, swin3d_t (Kinetics-400 weights)."),
    ] = None,
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    head: Annotated[
        Optional[str],
        typer.Option(help="lstm, bilstm, gru, attention, transformer, mean or linear (default: attention; "
                           "regression: gru; lrcn: lstm)."),
    ] = None,
    head_option: Annotated[
        Optional[list[str]], typer.Option(help="Head option NAME=VALUE (JSON value), repeatable.")
    ] = None,
    frames: Annotated[Optional[int], typer.Option(help="Frames per view (default 16; on pixels 8, or the model's own: "
                                                   "see `vidclass models`).")] = None,
    inputs: Annotated[
        Optional[str],
        typer.Option(help="features: appearance, appearance+motion, appearance+rgbdiff, "
                     "appearance+motion+rgbdiff, rgbdiff (motion alone), appearance+flow, or flow (optical flow "
                     "images alone: the default), "
                     "or with poses pose, pose+velocity, appearance+pose, "
                     "appearance+rgbdiff+pose, ... (see `vidclass extract --help`); on pixels: rgb (default), rgbdiff or flow."),
    ] = None,
    pose_people: PosePeopleOpt = 3,
    keypoints: KeypointsOpt = None,
    size: Annotated[Optional[int], typer.Option(help="Square frame side in pixels the network sees (pixels: default "
                                                 "112 or the model's own, see `vidclass models`; features: the "
                                                 "backbone's own).")] = None,
    freeze_stages: Annotated[
        int, typer.Option(help="On pixels: freeze the backbone's first N stages (-1: all of it).")
    ] = 0,
    backbone_lr: Annotated[
        Optional[float], typer.Option(help="On pixels: learning rate of the backbone (default 0.3 x lr).")
    ] = None,
    bn: Annotated[str, typer.Option(help="On pixels: train (update BatchNorm statistics) or frozen (keep the pretrained ones).")] = "train",
    flip: Annotated[bool, typer.Option(help="On pixels: random horizontal flips in augmentation.")] = True,
    epochs: Annotated[
        Optional[int], typer.Option(help="Most epochs (default 60; on pixels 8); early stopping usually ends sooner.")
    ] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Videos per training batch (default 16; on pixels 8).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate (default 1e-3, or the model's own).")] = None,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay.")] = 0.05,
    patience: Annotated[
        Optional[int], typer.Option(help="Epochs without a better validation loss before stopping (default 10; on pixels 3).")
    ] = None,
    label_smoothing: Annotated[float, typer.Option(help="Label smoothing of the training loss.")] = 0.0,
    class_weights: Annotated[bool, typer.Option(help="Weight the loss by inverse class frequency.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the split, the views and the weights.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips held back for the final test.")] = 0.15,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding threads running beside the CNN (pose estimation: processes).")] = 1,
    accelerator: Annotated[str, typer.Option(help="Lightning accelerator: auto (a GPU if there is one), cpu, gpu.")] = "auto",
    devices: Annotated[str, typer.Option(help="Lightning devices: auto, a count, or a list like 0,1.")] = "auto",
    precision: Annotated[
        str, typer.Option(help="auto (bf16-mixed on a GPU that has it, else 32), 32, 16-mixed or bf16-mixed.")
    ] = "auto",
    accumulate: Annotated[int, typer.Option(help="Batches whose gradients are summed before each step.")] = 1,
    strategy: Annotated[
        str, typer.Option(help="Lightning strategy: auto, ddp (one process per device), ddp_spawn or fsdp (GPUs).")
    ] = "auto",
    num_nodes: Annotated[int, typer.Option(help="Machines (torchrun or SLURM start the processes on each).")] = 1,
    loader_workers: Annotated[int, typer.Option(help="DataLoader processes preparing training batches.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run of --out from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace a finished run in --out.")] = False,
    task: Annotated[str, typer.Option(help="classification, or regression: a number per video from a numeric CSV "
                                      "column (--target) or numeric folder names; MAE, RMSE, R² and a scatter PNG.")
                    ] = "classification",
    loss: Annotated[str, typer.Option(help="--task regression: mse or huber.")] = "mse",
    target: Annotated[str, typer.Option(help="--task regression: the CSV column of the numbers (else a numeric "
                                        "label column).")] = "target",
) -> None:
    """Train a classifier (or with --task regression a regressor) on DATASET and evaluate it on the held-back test split."""
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.evaluation.metrics import format_evaluation
    from vidclass.util.progress import extraction_progress

    params: dict[str, Any] = dict(
        model=model_kind, backbone=backbone, head=head, frames=frames, inputs=inputs,
        head_options=_head_options(head_option or []), arch=arch, pretrained=parse_pretrained(pretrained), weights=weights,
        pose_people=pose_people, keypoints=keypoints,
        size=size, freeze_stages=freeze_stages, backbone_lr=backbone_lr, bn=bn, flip=flip, epochs=epochs,
        batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience, label_smoothing=label_smoothing,
        class_weights=class_weights, seed=seed, val=val, test=test, accelerator=accelerator,
        devices=int(devices) if devices.isdigit() else devices, precision=precision, accumulate=accumulate,
        loader_workers=loader_workers, cache_dir=cache, workers=workers, progress=True, strategy=strategy,
        num_nodes=num_nodes,
    )
    if recipe is not None:
        chosen, estimate = _recipe_for_training(recipe, compare_dir)
        given = {name for name in ctx.params if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        given = {"model" if name == "model_kind" else name for name in given}
        params.update({name: value for name, value in chosen.classifier_params().items() if name not in given})
        model_kind, head = params["model"], params["head"]
        click.echo(f"vidclass: recipe {chosen.name}: {chosen.settings()}", err=True)
        if estimate is not None:
            click.echo(f"vidclass: chosen by {compare_dir / 'results.json'}; expected accuracy {estimate}", err=True)
    elif compare_dir is not None:
        raise VidclassError("--compare DIR goes with --recipe best")
    from vidclass.estimator.tasks import TASKS

    if task not in TASKS:
        raise VidclassError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "regression":
        from vidclass.estimator.regressor import VideoRegressor

        if dataset_options.background is not None:  # never drop an option silently
            raise VidclassError("--background labels the time between segments with a class; a regressor's segments "
                                "carry numbers, so --task regression takes no --background")
        model: Any = VideoRegressor(**params, clips=dataset_options.clips, loss=loss, column=target)
        model.check_params()
        data: Any = dataset  # a regressor reads its numbers itself (the --target column, or numeric folders)
        total = None
    else:
        model = VideoClassifier(**params, clips=dataset_options.clips)
        model.check_params()
        data = read_dataset(dataset, dataset_options, training=True)
        total = len(data.items)
    with extraction_progress(total, description="decoding" if model_kind != "features" else "extracting") as advance:
        model.fit(data, out_dir=out, resume=resume, overwrite=overwrite, on_video=advance)
    from vidclass.training.distributed import is_primary

    if not is_primary():  # the other DDP ranks trained beside rank 0, which reports
        return
    training = model.training_
    from vidclass.estimator.factory import describe

    aim = f" to estimate {target}" if task == "regression" else ""
    unit = "clips" if "clips" in training else "videos"
    fitting = (f"best epoch {training['best_epoch']} of {training['epochs_run']}" if training["best_epoch"] is not None
               else "fitted in one pass (no epochs)")  # the linear head: a logistic regression
    console.print(f"trained {describe(model)}{aim} on {training['videos']['train']} {unit} ({training['split']}); {fitting}")
    report_engine(training.get("frames_encoded_by"))
    report_left_out(training["unreadable"], where=f"{out / 'model' / 'config.json'} lists them all")
    report_no_people(training.get("no_people", []))
    if model.evaluation_ is not None:
        shown = f"test: {model.evaluation_.format()}" if task == "regression" else format_evaluation(model.evaluation_)
        console.print(shown, markup=False, highlight=False)
    console.print(f"model: {out / 'model'}\nrun folder: {out}")


def _recipe_for_training(name: str, compare_dir: Path | None):
    """The recipe ``--recipe NAME`` names, or with ``best`` the winner of the comparison in ``--compare DIR``, with
    the estimate that backs that choice (None for a named recipe)."""
    from vidclass.compare import best_recipe
    from vidclass.compare.recipes import get_recipe

    if name != "best":
        if compare_dir is not None:
            raise VidclassError("--compare DIR goes with --recipe best")
        return get_recipe(name), None
    if compare_dir is None:
        raise VidclassError("--recipe best needs --compare DIR (a folder written by `vidclass compare`)")
    return best_recipe(compare_dir)


def _head_options(pairs: list[str]) -> dict[str, Any]:
    from vidclass.errors import ConfigError

    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--head-option must look like NAME=VALUE, got {pair!r}")
        try:
            options[name] = json.loads(value)
        except json.JSONDecodeError:
            options[name] = value
    return options


@app.command()
@dataset_options
def evaluate(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL", help="A model folder written by `vidclass train`.")],
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Also print the metrics JSON on stdout.")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Folder for metrics.json, confusion PNG, predictions CSV.")] = None,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding threads running beside the CNN (pose estimation: processes).")] = 1,
    keypoints: KeypointsOpt = None,
) -> None:
    """Evaluate MODEL on the videos of DATASET it never saw in training (a regression model: MAE, RMSE, R² and
    a predicted-vs-true scatter, on the numeric target column it was trained on or numeric folder names)."""
    from vidclass.estimator.bundle import bundle_task
    from vidclass.estimator.classifier import VideoClassifier
    from vidclass.estimator.factory import load_model
    from vidclass.evaluation.metrics import format_evaluation

    out = out or model_dir.parent / "evaluation" / dataset.name
    if bundle_task(model_dir) == "regression":
        scores = load_model(model_dir, cache_dir=cache, workers=workers).evaluate(dataset, out_dir=out)
        if as_json:
            print_json(scores.to_dict())
        else:
            console.print(scores.format(), markup=False, highlight=False)
            console.print(f"files: {out}")
        return
    model = VideoClassifier.load(model_dir, cache_dir=cache, workers=workers)
    model.set_params(keypoints=keypoints)  # a pose model reads these instead of estimating
    found = read_dataset(dataset, dataset_options, report=False)
    if found.segmented:  # timelines against the labeled segments
        from vidclass.use.segment_eval import evaluate_segments

        scored = evaluate_segments(model, found, out_dir=out)
        if as_json:
            print_json(scored.to_dict())
        else:
            print(scored.format())
            print(f"files: {out}")
        return
    evaluation = model.evaluate(found, out_dir=out)
    if as_json:
        print_json(evaluation.to_dict())
    else:
        console.print(format_evaluation(evaluation), markup=False, highlight=False)
        console.print(f"files: {out}")


@app.command()
def recipes(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the recipes `vidclass compare` scores and `vidclass train --recipe` trains."""
    from vidclass.compare.recipes import get_recipe, list_recipes

    listed = [get_recipe(name) for name in list_recipes()]
    if as_json:
        print_json([{"name": r.name, "family": r.family, "description": r.description, "params": dict(r.params),
                      "members": list(r.members), "weights": r.weights, "fast": r.fast,
                      "cost_s_per_fold_per_100_clips": r.cost} for r in listed])
        return
    print_table("recipes (vidclass compare --recipes NAMES|all|fast, vidclass train --recipe NAME)",
                 ["name", "family", "fast", "weights", "settings", "description"],
                 [[r.name, r.family, "yes" if r.fast else "no", r.weights, r.settings(), r.description] for r in listed])


@app.command()
@dataset_options
def compare(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    out: Annotated[Path, typer.Option("--out", help="Folder for results (resumable: rerun to finish or add recipes).")],
    recipes: Annotated[str, typer.Option(help="all, fast (frozen features only) or comma-separated recipe names.")] = "fast",
    folds: Annotated[int, typer.Option(help="Outer folds (StratifiedGroupKFold over the groups).")] = 5,
    budget: Annotated[
        Optional[str], typer.Option(help="Time for this run, e.g. 30m or 2h: recipes whose estimate does not fit are skipped.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the folds and of every recipe's training.")] = 0,
    val: Annotated[float, typer.Option(help="Fraction of each fold's training part used for early stopping.")] = 0.2,
    cache: CacheOpt = None,
    workers: Annotated[int, typer.Option(help="Decoding threads running beside the CNN (pose estimation: processes).")] = 1,
    nested: Annotated[bool, typer.Option(
        "--nested", help="Also measure the selection itself: in each outer fold rank the recipes by an inner grouped CV "
                         "on its training part and score the winner on the outer fold (the estimate of what picking "
                         "the best row delivers on new groups, and the best row's optimism).")] = False,
    inner_folds: Annotated[int, typer.Option(help="With --nested: inner folds per outer training part.")] = 4,
    speed_clips: Annotated[int, typer.Option(
        help="Test clips of fold 0 labelled again from an empty cache to time inference (0: no timing).")] = 8,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the ranked results as JSON on stdout (with --nested: {recipes, nested}).")] = False,
) -> None:
    """Score recipes side by side on the same grouped folds of DATASET: accuracy, cost, ranked."""
    from vidclass.compare import CompareSettings, table_rows
    from vidclass.compare import compare as run_compare
    from vidclass.compare.recipes import select_recipes
    from vidclass.compare.report import HEADERS
    from vidclass.use.predict import parse_seconds

    chosen = select_recipes(recipes)
    settings = CompareSettings(folds=folds, seed=seed, val=val, cache_dir=cache, workers=workers,
                               budget=parse_seconds(budget, "--budget") if budget is not None else None,
                               speed_clips=speed_clips)
    found = read_dataset(dataset, dataset_options, training=True)
    result = run_compare(found, chosen, out, settings, inner_folds=inner_folds if nested else None,
                         log=lambda line: click.echo(line, err=True))
    rows, paths = result.rows, result.paths
    if as_json:
        table = [row.as_dict() for row in rows]
        print_json({"recipes": table, "nested": result.nested.as_dict()} if result.nested is not None else table)
    else:
        print_table(f"compare: {len(found.items)} clips, {folds} grouped folds", list(HEADERS), table_rows(rows))
        if result.nested is not None:
            print(result.nested.format())
    for row in rows:
        if row.learnt_nothing:
            click.echo(f"vidclass: warning: recipe {row.name}: {row.learnt_nothing}", err=True)
    click.echo(f"vidclass: report {paths['md']}, results {paths['json']} and {paths['csv']}, plot {paths['png']}",
               err=True)
