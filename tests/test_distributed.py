"""Work across processes with Lightning's launchers, on the CPU with gloo: sharded feature extraction
and DDP training give what one process gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vidclass.inputs.extraction import extract_features
from vidclass.inputs.features import FeatureCache, fingerprint
from vidclass.models.backbones import create_backbone
from vidclass.training.distributed import shard

BACKBONE = "mobilenet_v3_small"  # small and offline with --pretrained none


def _dataset(tmp_path: Path, shared_data: Path) -> Path:
    root = tmp_path / "videos"
    for label, names in {"a": ("test.mp4", "demo.mp4", "short32.mp4"), "b": ("test.avi",)}.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(shared_data / "clips" / name, root / label / name)
    shutil.copy(shared_data / "clips" / "short32.mp4", root / "b" / "other.mp4")
    with open(root / "b" / "other.mp4", "ab") as f:  # other content, so another fingerprint and entry
        f.write(b"\0" * 1024)
    return root


def _entries(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*.safetensors")}


def _per_rank_threads(ranks: int) -> int:
    from lightning.fabric.utilities.distributed import _suggested_max_num_threads

    return _suggested_max_num_threads(ranks)  # what Lightning gives each CPU process


@pytest.mark.slow
def test_sharded_extraction_equals_one_process_and_a_rerun_computes_only_what_is_missing(tmp_path, shared_data):
    root = _dataset(tmp_path, shared_data)
    paths = sorted(root.rglob("*.mp4")) + sorted(root.rglob("*.avi"))
    prints = [fingerprint(p) for p in paths]
    mine, theirs = shard(paths, prints, 0, 2), shard(paths, prints, 1, 2)
    assert mine and theirs and sorted(mine + theirs) == sorted(paths)
    encoder = create_backbone(BACKBONE, pretrained=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(_per_rank_threads(2))  # floating-point sums depend on the thread count
    try:
        whole = FeatureCache(tmp_path / "one-process")
        assert extract_features(paths, encoder, 4, cache=whole, batch_size=1, workers=0).computed == len(paths)
        # an interrupted 2-rank run: rank 0's videos are done, rank 1 was killed mid-write
        shared = FeatureCache(tmp_path / "shared")
        extract_features(mine, encoder, 4, cache=shared, batch_size=1, workers=0)
    finally:
        torch.set_num_threads(threads)
    leftover = next(shared.root.rglob("*.safetensors")).parent / ".half-written.123.tmp"
    leftover.write_bytes(b"killed")
    before = _entries(shared.root)
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    # --inputs pinned to what extract_features computed above (appearance: no rgbdiff stream); with the
    # CLI's default (appearance+rgbdiff) every key differs and all videos are computed again
    run = subprocess.run(
        [sys.executable, "-m", "vidclass", "extract", str(root), "--frames", "2", "--cache", str(shared.root),
         "--backbone", BACKBONE, "--pretrained", "none", "--inputs", "appearance", "--runtime", "torch",
         "--batch-size", "1",
         "--workers", "0", "--devices", "2", "--accelerator", "cpu"],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"{len(theirs)} computed" in run.stdout and f"{len(mine)} from cache" in run.stdout, run.stdout
    after = _entries(shared.root)
    assert all(after[name] == entry for name, entry in before.items())  # nothing computed twice
    assert sorted(after) == sorted(_entries(whole.root))
    for name in after:  # the union equals the one-process run, bit for bit
        got, expected = _tensors(shared.root, name), _tensors(whole.root, name)
        assert got.keys() == expected.keys()
        assert all(got[k].tobytes() == expected[k].tobytes() for k in got), name


def _tensors(root: Path, name: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(next(root.rglob(name)))


@pytest.mark.slow
def test_ddp_with_two_processes_matches_one_and_each_rank_sees_a_disjoint_part_of_every_epoch(tmp_path):
    helper = Path(__file__).with_name("ddp_fit.py")
    sys.path.insert(0, str(helper.parent))
    try:
        import ddp_fit
    finally:
        sys.path.remove(str(helper.parent))
    ddp_fit.run(tmp_path / "one", devices=1, batch=8)  # one process, twice the per-process batch
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    run = subprocess.run([sys.executable, str(helper), str(tmp_path / "two"), "2", "4"], capture_output=True,
                         text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    one = np.load(tmp_path / "one" / "predictions.npy")
    two = np.load(tmp_path / "two" / "predictions.npy")
    assert np.abs(one - two).max() < 1e-4
    assert np.abs(one - 0.5).max() > 0.1  # it learned something: the comparison means something
    seen = [json.loads((tmp_path / "two" / f"seen-{r}.json").read_text()) for r in (0, 1)]
    epochs = {epoch for part in seen for epoch, _ in part}
    assert len(epochs) == 4
    for epoch in epochs:
        mine, theirs = ({i for e, i in part if e == epoch} for part in seen)
        assert not mine & theirs and len(mine | theirs) == ddp_fit.TRAIN
    gathered = json.loads((tmp_path / "two" / "gathered.json").read_text())
    assert [x for x, _ in gathered] == list(range(10)) and {r for _, r in gathered} == {0, 1}
