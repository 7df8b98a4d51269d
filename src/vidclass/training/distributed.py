"""Work across processes, GPUs and nodes, on Lightning's launchers and torch.distributed.

Nothing here schedules anything: Lightning starts the processes (its launcher on one machine;
``torchrun`` or SLURM start them across nodes), and these helpers only say which process is
which and what share of the work is its own:

* :func:`rank` / :func:`world_size` / :func:`is_primary`: from the process group once it exists,
  else from the launcher's environment (``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``, ...), so a
  process knows before training starts whether it writes the run folder (only rank 0 does);
* :func:`shard`: a deterministic split of videos by content fingerprint, the same in every rank
  and every rerun;
* :func:`gather` : each rank computes its share of a list, every rank gets the whole list back in order;
* :func:`extract_sharded`: ``vidclass extract --devices N --num-nodes M``: each rank extracts its
  shard into the shared content-addressed cache (atomic renames, so ranks never clash, and a rerun
  after a killed rank computes only what is missing).

A process that joined a process group leaves it before the interpreter exits
(:func:`close_process_group`, registered with ``atexit`` when this module is imported): left to
the interpreter's teardown, gloo's threads could be destroyed while still joinable, and the
process then died with SIGABRT ("terminate called without an active exception") after its work
was done.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from vidclass.errors import ConfigError
from vidclass.media.motion import MOTION_RULE

T = TypeVar("T")
STRATEGIES = ("auto", "ddp", "ddp_spawn", "fsdp")
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def _initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def close_process_group() -> None:
    """Leave the process group, if this process is in one: its threads end here, not in the
    interpreter's teardown. Every rank calls it after its last collective (at exit at the latest)."""
    if _initialized():
        torch.distributed.destroy_process_group()


atexit.register(close_process_group)


LAUNCHER_RANKS = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")  # Lightning's order (rank_zero._get_rank)


def rank() -> int:
    """This process's global rank: the process group's, else the launcher's environment, else 0."""
    if _initialized():
        return torch.distributed.get_rank()
    zero = sys.modules.get("lightning.fabric.utilities.rank_zero")  # a Trainer sets its rank there
    if zero is not None:
        return int(getattr(zero.rank_zero_only, "rank", 0) or 0)
    for name in LAUNCHER_RANKS:  # before Lightning is imported (a fit in one pass never imports it)
        if name in os.environ:
            return int(os.environ[name])
    return 0


def world_size() -> int:
    if _initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_primary() -> bool:
    """Whether this process writes outputs (metrics, checkpoints, bundles): global rank 0."""
    return rank() == 0


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    return strategy


def shard(paths: Sequence[T], prints: Sequence[str], part: int, parts: int) -> list[T]:
    """The items of ``paths`` whose content fingerprint (hex, ``prints``) falls to ``part`` of ``parts``."""
    return [path for path, print_ in zip(paths, prints) if int(print_[:15], 16) % parts == part]


def gather(items: Sequence[T], compute: Callable[[list[T]], list[Any]]) -> list[Any]:
    """``compute(items)``, shared out across the ranks of the process group when there is one:
    rank r computes ``items[r::world]``, and every rank gets all results back in the order of ``items``."""
    world = world_size() if _initialized() else 1
    if world == 1:
        return compute(list(items))
    mine = compute(list(items[rank()::world]))
    everyone: list[list[Any] | None] = [None] * world
    torch.distributed.all_gather_object(everyone, mine)
    results: list[Any] = [None] * len(items)
    for r, part in enumerate(everyone):
        results[r::world] = part  # type: ignore[assignment]
    return results


def extract_sharded(
    paths: Sequence[Path], make_encoder: Callable[[torch.device], Any], grid: int, *, cache, accelerator: str,
    devices: int | str, num_nodes: int, batch_size: int | None, workers: int, pair_image: str | None = None,
    motion_rule: str = MOTION_RULE, appearance: bool = True,
    on_video: Callable[[str, str], None] | None = None,
):
    """Extract ``paths`` with one process per device (Lightning Fabric's launcher), each on the shard
    of videos :func:`shard` gives its rank; returns the report summed over all ranks (in every rank).

    ``make_encoder(device)`` builds the encoder for this rank's device. On a GPU the CNN runs in
    bf16 (fp16 where bf16 is missing) on frames sent from pinned memory, while decoding runs in
    ``workers`` CPU processes per rank.
    """
    import logging

    import lightning as L

    from vidclass.inputs.extraction import extract_features
    from vidclass.inputs.features import ExtractionReport, fingerprint

    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)  # no launch banners on stdout

    fabric = L.Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy="ddp")
    fabric.launch()
    prints = []
    readable = []
    for path in paths:
        try:
            prints.append(fingerprint(path))
            readable.append(path)
        except OSError:
            readable.append(path)  # extract_features reports it as failed, in one rank
            prints.append("0")
    mine = shard(readable, prints, fabric.global_rank, fabric.world_size)
    encoder = make_encoder(fabric.device)
    report = extract_features(mine, encoder, grid, cache=cache, batch_size=batch_size, workers=workers,
                              pair_image=pair_image, motion_rule=motion_rule, appearance=appearance,
                              on_video=on_video if fabric.is_global_zero else None)
    reports: list[ExtractionReport | None] = [None] * fabric.world_size
    if fabric.world_size > 1:
        torch.distributed.all_gather_object(reports, report)
    else:
        reports = [report]
    total = ExtractionReport(total=len(paths))
    for part in reports:
        assert part is not None
        total.computed += part.computed
        total.cached += part.cached
        total.frames += part.frames
        total.seconds = max(total.seconds, part.seconds)
        total.failed.update(part.failed)
        total.engine = total.engine or part.engine
    fabric.barrier()
    return total, fabric.is_global_zero
