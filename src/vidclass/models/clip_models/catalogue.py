"""What ``vidclass models`` says about each clip model: input, parameters, GFLOPs per clip, weights.

One row per clip model, and per network of the ``3d`` model (``--arch``). The costs are
measured, not computed when the command runs (building the torchvision video networks and
counting their operations takes tens of seconds on a CPU): ``python benchmarks/clip_model_cost.py
--table`` prints :data:`COSTS` from the models themselves (``torch.utils.flop_counter`` on one
clip at the row's frames and size, random weights, 2 classes, the default backbone), and
tests/test_catalogue_models.py recomputes the cheap rows, so the table cannot drift from the code.
GFLOPs are per clip of ``frames`` frames (a ``frame`` model runs its CNN on each of them).
"""

from __future__ import annotations

from typing import Any

IMAGENET = "ImageNet (the backbone's, offline with the default)"
SCRATCH = "from scratch"
KINETICS = "Kinetics-400 (downloaded when online, or --weights PATH)"

# (model, arch) -> (frames, size, parameters in millions, GFLOPs per clip, where the weights come from)
COSTS: dict[tuple[str, str | None], tuple[int, int, float, float, str]] = {
    ("frame", None): (8, 112, 3.37, 1.69, IMAGENET),
    ("lrcn", None): (8, 112, 4.10, 1.70, IMAGENET),
    ("early_fusion", None): (8, 112, 3.38, 0.25, IMAGENET),
    ("3d", "inflated"): (8, 112, 4.06, 2.13, IMAGENET),
    ("3d", "c3d_small"): (8, 112, 0.29, 1.47, SCRATCH),
    ("3d", "r3d_18"): (8, 112, 33.17, 40.70, KINETICS),
    ("3d", "mc3_18"): (8, 112, 11.49, 43.34, KINETICS),
    ("3d", "r2plus1d_18"): (8, 112, 31.30, 40.52, KINETICS),
    ("3d", "s3d"): (16, 224, 7.91, 35.96, KINETICS),
    ("3d", "mvit_v2_s"): (16, 224, 34.23, 128.45, KINETICS),
    ("3d", "swin3d_t"): (16, 224, 27.85, 87.76, KINETICS),
    ("convlstm", None): (20, 64, 0.15, 1.84, SCRATCH),
}


ARCH_DESCRIPTIONS = {
    "inflated": "3D CNN: the default 2D ImageNet backbone inflated to 3D (I3D; stem and late stages temporal)",
    "c3d_small": "3D CNN: C3D-style stack of 3 x 3 x 3 convolutions sized for a CPU",
}


def catalogue() -> list[dict[str, Any]]:
    """One dict per row of :data:`COSTS`: name, arch, frames, size, params_m, gflops_per_clip, weights, description."""
    from vidclass.models.clip_models import get_clip_model_class

    rows = []
    for (name, arch), (frames, size, params, gflops, weights) in COSTS.items():
        rows.append({"name": name, "arch": arch, "frames": frames, "size": size, "params_m": params,
                     "gflops_per_clip": gflops, "weights": weights,
                     "description": get_clip_model_class(name).description if arch is None
                     else ARCH_DESCRIPTIONS.get(arch, f"3D CNN: torchvision's {arch}")})
    return rows
