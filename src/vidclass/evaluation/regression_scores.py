"""How good a regression is: MAE, RMSE and R² of predicted against true values, a predicted-vs-true
scatter PNG, and the evaluation files a regression run writes."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class RegressionEvaluation:
    """Scores of predicted against true values."""

    videos: int
    mae: float
    rmse: float
    r2: float
    notes: list[str] = field(default_factory=list)  # what was left out of the scoring, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.videos} videos: MAE {self.mae:.4g}  RMSE {self.rmse:.4g}  R² {self.r2:.3f}"

    def format(self) -> str:
        return "\n".join([self.line(), *self.notes])


def regression_scores(true: np.ndarray, predicted: np.ndarray) -> RegressionEvaluation:
    """MAE, RMSE and R² (1 - residual / total sum of squares; 0 for a constant prediction at the mean)."""
    true, predicted = np.asarray(true, float), np.asarray(predicted, float)
    residual = float(((true - predicted) ** 2).sum())
    total = float(((true - true.mean()) ** 2).sum())
    return RegressionEvaluation(len(true), float(np.abs(true - predicted).mean()), math.sqrt(residual / len(true)),
                                1 - residual / total if total > 0 else 0.0)


def plot_scatter(true: np.ndarray, predicted: np.ndarray, out_png: str | Path, *, title: str = "") -> Path:
    """A predicted-vs-true scatter with the identity line, written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vidclass.util.atomic import write_atomic

    fig = Figure(figsize=(4.8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.scatter(true, predicted, s=14, alpha=0.8)
    low, high = float(min(np.min(true), np.min(predicted))), float(max(np.max(true), np.max(predicted)))
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title or "predicted vs true", fontsize="small")
    return write_atomic(Path(out_png), lambda f: fig.savefig(f, format="png"))


def write_evaluation(out: Path, true: np.ndarray, predicted: np.ndarray, paths: list[Path], *,
                     notes: list[str] | None = None) -> None:
    """metrics.json (MAE, RMSE, R², and the ``notes`` of what was left out), predictions.csv (path, true, predicted)
    and scatter.png in ``out``, atomically (for :mod:`vidclass.estimator.regressor`, every model kind)."""
    from vidclass.util.atomic import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    scores = regression_scores(true, predicted)
    scores.notes = list(notes or [])
    metrics = (json.dumps(scores.to_dict(), indent=2) + "\n").encode()
    write_atomic(out / "metrics.json", lambda f: f.write(metrics))
    rows = io.StringIO(newline="")
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["path", "true", "predicted"])
    writer.writerows([str(p), f"{t:.6g}", f"{v:.6g}"] for p, t, v in zip(paths, true, predicted))
    write_atomic(out / "predictions.csv", lambda f: f.write(rows.getvalue().encode()))
    plot_scatter(true, predicted, out / "scatter.png", title=scores.line())
