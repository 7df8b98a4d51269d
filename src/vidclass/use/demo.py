"""``vidclass demo``: the whole workflow on synthetic data, offline, in a few minutes on a CPU.

Builds a small approaching-vs-receding dataset, trains the default head (attention) on the default
backbone and inputs (the task is the order of the frames, which a head that averages them, such as
``linear``, cannot see), evaluates it on the held-back split, then labels a longer video whose direction
changes, with smoothing, an annotated video, a GIF and a timeline plot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidclass.data import synthetic
from vidclass.estimator.classifier import VideoClassifier
from vidclass.estimator.tasks import ranked
from vidclass.evaluation.metrics import format_evaluation
from vidclass.media.render import AnnotatedVideoWriter, GifWriter, draw_label
from vidclass.use.predict import TimelineSettings, run_timeline
from vidclass.use.timeline import plot_timeline

DEMO_SPEC = synthetic.SyntheticSpec(clips_per_class=16, seconds=2.0, fps=12, size=112, seed=0)
DEMO_TIMELINE = [("approaching", 6.0), ("receding", 6.0), ("approaching", 6.0)]


@dataclass
class DemoResult:
    """Where the demo put things, and how long it took."""

    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(out: Path, *, log: Callable[[str], None] = print) -> DemoResult:
    """Run the demo into ``out``; ``log`` receives one line per step."""
    started = time.perf_counter()
    out = Path(out)
    result = DemoResult()
    log(f"1/4 writing a synthetic dataset ({len(synthetic.DIRECTIONS)} classes x {DEMO_SPEC.clips_per_class} clips)")
    dataset = synthetic.make_direction_dataset(out / "dataset", DEMO_SPEC)
    log("2/4 extracting features (efficientnet_lite0) and training the attention head")
    model = VideoClassifier(frames=8, cache_dir=out / "cache", epochs=60, val=0.2, test=0.2)
    model.fit(dataset, out_dir=out / "run")
    log("3/4 evaluation on the held-back test split:")
    if model.evaluation_ is not None:
        log(format_evaluation(model.evaluation_))
    log("4/4 labeling an 18 s video whose square approaches, recedes, then approaches again")
    video = synthetic.make_direction_timeline(out / "long.mp4", DEMO_TIMELINE, fps=DEMO_SPEC.fps, size=DEMO_SPEC.size,
                                              seed=7)
    annotated, gif = out / "long_annotated.mp4", out / "long_annotated.gif"
    with AnnotatedVideoWriter(annotated, DEMO_SPEC.fps) as writer, GifWriter(gif, DEMO_SPEC.fps,
                                                                            time_range=(4.0, 8.0)) as gif_writer:

        def annotate(frame, _time, probabilities) -> None:
            if probabilities is not None:
                top = ranked(probabilities, model.labels_)
                frame = draw_label(frame, top[0][0], top)
            writer.write(frame)
            gif_writer.write(frame)

        timeline = run_timeline(model, video, TimelineSettings(stride=0.5, smooth=4), annotate=annotate)
    timeline.write_json(out / "timeline.json")
    plot_timeline(timeline, out / "timeline.png")
    for segment in timeline.segments:
        log(f"  {segment.start:5.2f}-{segment.end:5.2f} s  {segment.label:<12} p={segment.mean_probability:.2f}")
    result.files = {
        "dataset": dataset,
        "model": out / "run" / "model",
        "training curves": out / "run" / "curves.png",
        "evaluation": out / "run" / "evaluation",
        "long video": video,
        "annotated video": annotated,
        "annotated GIF": gif,
        "timeline": out / "timeline.json",
        "timeline plot": out / "timeline.png",
    }
    result.seconds = time.perf_counter() - started
    return result
