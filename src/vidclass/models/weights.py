"""Weights files: read a state dict safely (safetensors, or torch.load with weights_only), load it
strictly with errors that name the file, and download into the torch hub cache with a timed
reachability check first. Shared by the frame encoders and the clip models."""

from __future__ import annotations

import pickle
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from vidclass.errors import WeightsUnavailableError

StateDict = dict[str, Tensor]
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
_PROBE_TIMEOUT_S = 10.0


def without_modules(state_dict: StateDict, modules: tuple[str, ...]) -> StateDict:
    """``state_dict`` without the keys of the named sub-modules (classifier, aux heads)."""
    prefixes = tuple(f"{m}." for m in modules)
    return {k: v for k, v in state_dict.items() if not k.startswith(prefixes)}


def read_state_dict(path: Path) -> StateDict:
    """A flat name -> tensor mapping from .safetensors, or .pth/.pt/.bin via
    ``torch.load(weights_only=True)`` (no arbitrary code from pickles)."""
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: no such weights file")
    suffix = path.suffix.lower()
    if suffix not in _WEIGHT_SUFFIXES:
        raise WeightsUnavailableError(
            f"{path}: unknown weights format {suffix!r}; use one of {', '.join(_WEIGHT_SUFFIXES)}"
        )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        if suffix == ".safetensors":
            state_dict = load_file(path, device="cpu")
        else:
            state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, SafetensorError) as exc:
        raise WeightsUnavailableError(f"{path}: cannot read weights: {exc}") from exc
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state_dict.items()
    ):
        raise WeightsUnavailableError(
            f"{path}: not a state dict (a flat mapping of parameter names to tensors)"
        )
    return dict(state_dict)


def load_strict(model: nn.Module, state_dict: StateDict, path: Path, name: str) -> None:
    """Load every parameter and buffer or fail naming the file and what does not fit."""
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as exc:  # shape mismatches
        lines = [ln.strip() for ln in str(exc).splitlines() if "size mismatch" in ln]
        raise WeightsUnavailableError(
            f"{path}: does not fit backbone {name!r}: {'; '.join(lines[:3]) or exc}"
        ) from exc
    problems = [
        f"{len(keys)} {kind} keys (e.g. {', '.join(keys[:3])})"
        for kind, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys))
        if keys
    ]
    if problems:
        raise WeightsUnavailableError(f"{path}: does not fit backbone {name!r}: {'; '.join(problems)}")


def require_reachable(url: str) -> None:
    """Fail fast, with one timed request, when the server of ``url`` cannot be reached:
    torch's downloader has no timeout and huggingface_hub retries for about a minute."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=_PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return  # the server answered; the download itself reports what it says
    except OSError as exc:  # URLError, timeouts, refused connections
        raise OSError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from exc


def download(url: str, path: Path) -> None:
    """Download into the torch hub cache, checking the hash prefix in the file name."""
    require_reachable(url)
    match = torch.hub.HASH_REGEX.search(path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match else None,
                                   progress=False)
