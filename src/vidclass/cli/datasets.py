"""Commands about data and the networks that read it: ``data`` (catalog, checks, splits), ``backbones``,
``models`` and ``extract`` (the feature cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vidclass.cli.app import app, print_json, print_table
from vidclass.cli.options import (
    LEFT_OUT_SHOWN,
    CacheOpt,
    DatasetOptions,
    FramesOpt,
    InputsOpt,
    PosePeopleOpt,
    PretrainedOpt,
    RuntimeOpt,
    WeightsOpt,
    dataset_options,
    parse_pretrained,
    read_dataset,
    report_engine,
    report_left_out,
    report_no_people,
)


def _print_dataset_summary(summary: dict[str, Any]) -> None:
    """A table of clips per class and split, then groups, duration, warnings and left-out files."""
    splits = [name for name in ("train", "val", "test") if name in summary["clips_per_split"]]
    rows = [
        [label, *(str(summary["clips_per_class_and_split"][label].get(name, 0)) for name in splits),
         str(summary["clips_per_class"][label])]
        for label in summary["labels"]
    ]
    rows.append(["all", *(str(summary["clips_per_split"][name]) for name in splits), str(summary["clips"])])
    print_table(f"{summary['root']}  ({summary['format']})", ["class", *splits, "total"], rows, right=len(splits) + 1)
    groups = summary.get("groups_per_split") or {}
    if summary["groups"]:
        grouping = f"{summary['groups']} groups" + (f" ({', '.join(f'{k} {v}' for k, v in groups.items())})" if groups else "")
    else:
        grouping = "no groups"
    print(
        f"{summary['clips']} clips, {len(summary['labels'])} classes, {grouping}, "
        f"{summary['total_duration_s'] / 60:.1f} min of video"
    )
    print(f"split: {summary['split_method']}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")
    unreadable = summary["unreadable"]
    print(f"{len(unreadable)} files left out" + (":" if unreadable else ""))
    for entry in unreadable:
        print(f"  {entry['path']}: {entry['reason']}")


@app.command()
@dataset_options
def data(
    root: Annotated[Path, typer.Argument(help="Dataset folder, CSV file, or UCF101 / MMAction2 list file.")],
    dataset_options: DatasetOptions,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    val: Annotated[float, typer.Option(help="Fraction of clips for validation.")] = 0.15,
    test: Annotated[float, typer.Option(help="Fraction of clips for test.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    check: Annotated[
        bool, typer.Option("--check", help="Leak finder: near-duplicate videos across train/val/test, with a PNG.")
    ] = False,
    groups: Annotated[
        Optional[str], typer.Option(help="auto: propose groups by similarity, write groups.csv, split by them.")
    ] = None,
    groups_csv: Annotated[
        Optional[Path], typer.Option(help="Where --groups auto writes the groups (default: ROOT/groups.csv).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option(help="Folder for the --check thumbnail strip (default: ./<ROOT name>-check).")
    ] = None,
    shortcuts: Annotated[
        bool, typer.Option(help="Per-class metadata and whether it alone predicts the label.")
    ] = True,
) -> None:
    """Find the labeled videos in ROOT, probe them, split the readable ones honestly and summarise them."""
    from vidclass.data.splits import split_catalog
    from vidclass.data.summary import describe
    from vidclass.errors import ConfigError

    if groups not in (None, "auto"):
        raise ConfigError(f"--groups must be auto, got {groups!r}")
    found = read_dataset(root, dataset_options, report=False)
    if dataset_options.clips is not None or found.segmented:  # recordings cut into clips
        from vidclass.data import recordings

        plan = recordings.ClipPlan.parse(dataset_options.clips) if dataset_options.clips else recordings.default_plan(found)
        summary = recordings.describe(found, recordings.split_recordings(found, plan, val=val, test=test, seed=seed))
        if as_json:
            print_json(summary.to_dict())
        else:
            print("\n".join(recordings.format_summary(summary.to_dict())))
        return
    videos = not found.is_images
    prints = None
    if videos and (check or groups):
        from vidclass.evaluation import leaks

        prints = leaks.fingerprint_videos([item.path for item in found.items])
    proposed = None
    if groups and prints is not None:
        found, proposed, written = leaks.auto_group(found, prints, groups_csv)
    splits = split_catalog(found, val=val, test=test, seed=seed)
    summary = describe(found, splits).to_dict()
    if proposed is not None:
        sizes = leaks.cluster_sizes(proposed)
        summary["proposed_groups"] = {"clusters": len(sizes), "sizes": sizes, "csv": str(written)}
    if shortcuts and videos:
        from vidclass.evaluation.shortcuts import check_shortcuts

        summary["shortcuts"] = check_shortcuts(found).to_dict()
    if check and prints is not None:
        folder = out or Path(f"{found.root.name}-check")
        summary["leaks"] = leaks.check_leaks(prints, splits, folder, groups=proposed).to_dict()
    if as_json:
        print_json(summary)
    else:
        _print_dataset_summary(summary)
        _print_dataset_checks(summary)


def _print_dataset_checks(summary: dict[str, Any]) -> None:
    """The proposed groups, the per-class metadata with shortcut warnings, and the leak finder's pairs."""
    if "proposed_groups" in summary:
        proposed = summary["proposed_groups"]
        sizes = proposed["sizes"]
        shown = ", ".join(map(str, sizes[:12])) + (", ..." if len(sizes) > 12 else "")
        print(
            f"proposed {proposed['clusters']} groups (sizes {shown}; {sizes.count(1)} of one clip), "
            f"written to {proposed['csv']}: review it; the split above uses it"
        )
    if "shortcuts" in summary:
        report = summary["shortcuts"]
        headers = ["class", "videos", "resolution", "aspect", "fps", "duration", "codec", "kbps", "letterboxed"]
        rows = [
            [label, str(row["videos"]), f"{row['resolution']} ({row['resolution_share']:.0%}, {row['resolutions']} sizes)",
             f"{row['aspect']:.2f}", f"{row['fps']:g}", f"{row['duration_s']:g} s",
             f"{row['codec']} ({row['codec_share']:.0%})", str(row["bitrate_kbps"]), f"{row['letterboxed']:.0%}"]
            for label, row in report["per_class"].items()
            if row["videos"]
        ]
        print_table("metadata per class (medians; most common resolution and codec)", headers, rows)
        scored = report["metadata_classifier"]
        if scored is not None:
            low, high = scored["interval"] or (scored["score"], scored["score"])
            print(
                f"metadata alone: mean class accuracy {scored['score']:.2f} (95% CI {low:.2f}-{high:.2f}, "
                f"chance {report['chance']:.2f}) under {report['folds']}-fold CV over {report['units']}"
            )
        for warning in report["warnings"]:
            print(f"warning: {warning}")
    if "leaks" in summary:
        leaks = summary["leaks"]
        print(
            f"leak finder: {leaks['pairs_across_splits']} near-duplicate pairs across splits "
            f"(similarity >= {leaks['similarity_threshold']} or hash >= {leaks['hash_threshold']})"
        )
        for pair in leaks["pairs"][:LEFT_OUT_SHOWN]:
            print(
                f"  {pair['similarity']:.2f} / hash {pair['hash_similarity']:.2f}  "
                f"{pair['part_a']}: {pair['a']}  <->  {pair['part_b']}: {pair['b']}"
            )
        if leaks["pairs_across_splits"] > LEFT_OUT_SHOWN:
            print(f"  ... and {leaks['pairs_across_splits'] - LEFT_OUT_SHOWN} more (--json lists them all)")
        if leaks["pairs_across_splits"]:
            print("  these clips look like one source: give them one group (--groups auto proposes groups)")
        print(f"thumbnails of the closest pairs: {leaks['thumbnails']}")


@app.command()
def backbones(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the frame encoders: feature size, input size, weights and whether they are on disk now."""
    from vidclass.models import backbones as registry

    listed = []
    for name in registry.list_backbones():
        spec = registry.get_backbone_spec(name)
        p = spec.preprocess
        listed.append({
            "name": name, "dim": spec.dim, "resize": p.resize, "crop": p.crop, "interpolation": p.interpolation,
            "weights": spec.weights_source, "offline": registry.weights_available_offline(name),
            "license": spec.license,
        })
    if as_json:
        print_json(listed)
        return
    rows = [
        [b["name"], str(b["dim"]), f"{b['resize']}->{b['crop']} {b['interpolation']}", b["weights"],
         "yes" if b["offline"] else "no", b["license"]]
        for b in listed
    ]
    print_table("backbones (any timm model also works as timm:<name>)",
                 ["name", "D", "input", "weights", "offline now", "licence"], rows)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON on stdout.")] = False,
) -> None:
    """List the kinds of model `vidclass train --model` trains (and each `--arch` of 3d): default frames and
    size, parameters, GFLOPs per clip, where the weights come from, what it trains."""
    from vidclass.estimator.core import list_model_kinds

    kinds = list_model_kinds()
    if as_json:
        print_json(kinds)
        return

    def number(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    print_table("models (vidclass train --model NAME [--arch A]; costs at the default frames x size, 2 classes)",
                 ["name", "arch", "frames x px", "trains", "weights", "description", "params (M)", "GFLOPs/clip"],
                 [[k["name"], k["arch"] or "-", f"{k['frames']} x {k['size'] or 'backbone'}", k["trains"], k["weights"],
                   k["description"], number(k["params_m"], 2), number(k["gflops_per_clip"], 2)] for k in kinds], right=2)


@app.command()
@dataset_options
def extract(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder, CSV or list file.")],
    dataset_options: DatasetOptions,
    backbone: Annotated[str, typer.Option(help="Backbone name (see `vidclass backbones`).")] = "efficientnet_lite0",
    frames: FramesOpt = 16,
    size: Annotated[Optional[int], typer.Option(help="Frame side in pixels the CNN sees (default: the backbone's own); "
                                                 "use the value `train --size` will use.")] = None,
    cache: CacheOpt = None,
    pretrained: PretrainedOpt = "imagenet",
    weights: WeightsOpt = None,
    batch_size: Annotated[
        Optional[int], typer.Option(help="Frames per CNN batch (batches span videos; default 1 on a CPU, 32 on a GPU).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Decoding threads running beside the CNN (pose estimation: processes).")] = 1,
    inputs: InputsOpt = "flow",  # vidclass.inputs.views.DEFAULT_INPUTS (importing it here would load torch)
    pose_people: PosePeopleOpt = 3,
    runtime: RuntimeOpt = "auto",
    accelerator: Annotated[str, typer.Option(help="With --devices / --num-nodes: cpu, gpu or auto (Lightning's).")] = "auto",
    devices: Annotated[int, typer.Option(help="Processes on this machine, one per device: >1 shards the videos.")] = 1,
    num_nodes: Annotated[int, typer.Option(help="Machines; torchrun or SLURM start the processes on each.")] = 1,
) -> None:
    """Compute and cache frame features of every video; a rerun computes only what is missing.
    With --devices / --num-nodes each process extracts its share of the videos into the shared cache."""
    from vidclass.errors import ConfigError, DatasetError
    from vidclass.inputs.extraction import extract_features
    from vidclass.inputs.features import FeatureCache
    from vidclass.inputs.views import ViewSpec
    from vidclass.models.backbones import create_backbone
    from vidclass.util.progress import extraction_progress

    view = ViewSpec(frames=frames, grid=2 * frames, inputs=inputs, people=pose_people)
    found = read_dataset(dataset, dataset_options)
    from vidclass.models.runtime import device_encoder, encoder_for

    network = dict(pretrained=parse_pretrained(pretrained), weights=weights, size=size)
    sharded = devices > 1 or num_nodes > 1
    if sharded and view.pose:
        raise ConfigError("--devices / --num-nodes shard CNN features; extract pose inputs in one process")
    store = FeatureCache(cache)
    paths = [item.path for item in found.items]
    pose = None
    if view.pose:
        from vidclass.inputs.pose import PoseSpec

        pose = PoseSpec(people=pose_people)
    if view.appearance and sharded:
        from vidclass.training.distributed import extract_sharded

        torch_encoder = create_backbone(backbone, **network)
        report, primary = extract_sharded(
            paths, lambda device: device_encoder(torch_encoder, device, runtime), view.grid, cache=store,
            accelerator=accelerator, devices=devices, num_nodes=num_nodes, batch_size=batch_size, workers=workers,
            pair_image=view.pair_image, motion_rule=view.motion_rule, appearance=view.frame_features,
        )
        if not primary:  # rank 0 reports for all
            return
    elif view.appearance:
        with extraction_progress(len(found.items)) as advance:
            report = extract_features(
                paths, encoder_for(backbone, runtime, **network), view.grid, cache=store, batch_size=batch_size,
                workers=workers, pair_image=view.pair_image, motion_rule=view.motion_rule,
                appearance=view.frame_features, pose=pose, on_video=advance,
            )
    if view.appearance:
        print(
            f"{report.total} videos: {report.computed} computed ({report.frames_per_second:.1f} frames/s), "
            f"{report.cached} from cache, {len(report.failed)} failed; cache: {store.root}"
        )
        report_engine(report.engine)
    if pose is not None:
        from vidclass.inputs.pose import pose_features

        cnn_failed = report.failed if view.appearance else {}
        with extraction_progress(len(found.items), description="poses") as advance:
            _, report = pose_features(paths, pose, view.grid, cache=store, workers=workers, on_video=advance)
        report.failed = {**report.failed, **cnn_failed}
        people = sum(report.people) / max(len(report.people), 1)
        print(f"{report.total} videos: poses {report.computed} computed, {report.cached} from cache, "
              f"{len(report.failed)} failed; {people:.2f} people per frame; cache: {store.root}")
        report_no_people(report.nobody)
    report_left_out(report.failed)
    if report.total and len(report.failed) == report.total:
        raise DatasetError(f"{dataset}: no video could be extracted; every one of the {report.total} failed")
