"""I3D inflation: turn a pretrained 2D image network into a network over clips, keeping what it knows.

Carreira and Zisserman's trick (Quo Vadis, Action Recognition?, 2017): a ``k x k`` kernel
becomes ``t x k x k`` by repeating it ``t`` times over time and dividing by ``t``, so on a clip
of identical frames the inflated network computes exactly what the 2D network computes on one
frame. Plain inflation is symmetric in time, though: the inflated network gives a clip and the
same clip reversed the same output, so at initialisation it cannot tell "approaching" from
"receding" and has to learn that from scratch (measured on the synthetic temporal-order task:
0.50 for the inflated 3D model after 12 epochs). So the repeated kernel here is tilted by a
zero-sum ramp over time (:func:`inflate_weight`): ``w * (1 + TEMPORAL_RAMP * s_t) / t`` with
``s_t`` from -1 (first frame) to 1 (last). The ramp sums to zero, so static clips still give
exactly the 2D output, and on a moving clip the filters also respond to the temporal change
``w * dx/dt`` from the start. Two uses here:

* :func:`inflate_input_conv` (early fusion): the first convolution reads ``frames x 3``
  channels, its weights repeated over the frames and divided by their number;
* :class:`TemporalConv` / :func:`inflate_network` (the ``3d`` model's default arch): chosen
  convolutions become real 3D convolutions over time. The rest of the 2D network is untouched
  and runs on the frames folded into the batch, ``(B * T, C, H, W)``; a temporal convolution
  unfolds them, convolves over time and folds them back. Time is padded by repeating the edge
  frames (not with zeros), so the promise holds at the first and last frame as well.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from vidclass.errors import ConfigError

TEMPORAL_RAMP = 0.5  # tilt of inflated kernels over time (0: I3D's plain, time-symmetric inflation)


def inflate_weight(weight: Tensor, length: int, dim: int, ramp: float = TEMPORAL_RAMP) -> Tensor:
    """``weight`` repeated ``length`` times along a new axis ``dim``, each copy scaled by ``(1 + ramp * s_t) / length``.

    ``s_t`` runs linearly from -1 to 1 over the copies and sums to zero, so the copies sum to
    ``weight`` (a static clip gives the 2D result) while their difference picks up change over time.
    """
    steps = torch.linspace(-1.0, 1.0, length, dtype=weight.dtype) if length > 1 else weight.new_zeros(1)
    scale = (1.0 + ramp * steps) / length
    shape = [1] * (weight.dim() + 1)
    shape[dim] = length
    return weight.unsqueeze(dim) * scale.view(shape)


def inflate_input_conv(network: nn.Module, frames: int) -> nn.Conv2d:
    """Make the first convolution of ``network`` read ``3 * frames`` channels (frame-major RGB stacks).

    Its ``(out, 3, k, k)`` weights become ``(out, 3 * frames, k, k)``: repeated over the frames
    and divided by ``frames``, tilted by :data:`TEMPORAL_RAMP` (:func:`inflate_weight`). Changed in place (the module class, padding and stride stay, so
    timm's TF-"same" convolutions keep working); returns the convolution.
    """
    conv = _first_conv(network)
    if getattr(network, "transform_input", False):
        raise ConfigError("early fusion: this backbone transforms its 3 input channels itself (inception-style); "
                          "choose another backbone")
    if conv.in_channels != 3 or conv.groups != 1:
        raise ConfigError(f"early fusion: the first convolution must read 3 channels, this one reads {conv.in_channels}")
    with torch.no_grad():
        weight = inflate_weight(conv.weight, frames, dim=1).flatten(1, 2)  # (out, frames * 3, k, k), frame-major
    conv.weight = nn.Parameter(weight)
    conv.in_channels = 3 * frames
    return conv


class TemporalConv(nn.Module):
    """A 2D convolution inflated to ``temporal_kernel x k x k`` (:func:`inflate_weight`), on frames folded into the batch.

    Input and output are ``(B * T, C, H, W)``; ``frames`` (T) must be set before a forward
    (:func:`set_frames`), because the folded batch does not say where one clip ends. Spatial
    padding, stride, dilation and groups are the 2D convolution's (timm's TF-"same" padding
    included); the temporal stride is 1, so the number of frames is kept.
    """

    def __init__(self, conv: nn.Conv2d, temporal_kernel: int) -> None:
        super().__init__()
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ConfigError(f"temporal_kernel must be an odd integer >= 1, got {temporal_kernel!r}")
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ConfigError(f"cannot inflate a convolution with padding {conv.padding!r} / {conv.padding_mode!r}")
        self.temporal_kernel = temporal_kernel
        self.same = _is_tf_same(conv)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.kernel_size = conv.kernel_size
        with torch.no_grad():
            weight = inflate_weight(conv.weight, temporal_kernel, dim=2)
        self.weight = nn.Parameter(weight)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone())
        self.frames = 1

    def forward(self, x: Tensor) -> Tensor:
        t = self.frames
        if x.shape[0] % t:
            raise ValueError(f"TemporalConv: a batch of {x.shape[0]} frames is not a whole number of {t}-frame clips")
        if self.same:
            from timm.layers.padding import pad_same

            x = pad_same(x, list(self.kernel_size), list(self.stride), list(self.dilation))
        clips = x.unflatten(0, (x.shape[0] // t, t)).transpose(1, 2)  # (B, C, T, H, W)
        half = self.temporal_kernel // 2
        if half:
            clips = F.pad(clips, (0, 0, 0, 0, half, half), mode="replicate")
        padding = (0, 0, 0) if self.same else (0, *self.padding)
        y = F.conv3d(clips, self.weight, self.bias, (1, *self.stride), padding, (1, *self.dilation), self.groups)
        return y.transpose(1, 2).flatten(0, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel={tuple(self.weight.shape[2:])}"


def inflate_network(network: nn.Module, convs: list[str], temporal_kernel: int) -> list[str]:
    """Replace the named 2D convolutions of ``network`` by :class:`TemporalConv` (in place); the names."""
    for name in convs:
        parent_name, _, child = name.rpartition(".")
        parent = network.get_submodule(parent_name) if parent_name else network
        setattr(parent, child, TemporalConv(getattr(parent, child), temporal_kernel))
    return convs


def default_temporal_convs(network: nn.Module, stages: list[list[nn.Module]]) -> list[str]:
    """Which convolutions the ``3d`` model inflates by default: cheap on a CPU, temporal where it counts.

    The stem (the first convolution: it sees motion between raw frames, at a few percent of the
    cost) and, in each stage of the second half of the network, its first pointwise (1 x 1,
    ungrouped) convolution: SlowFast (Feichtenhofer et al., 2019) found temporal kernels pay off
    in the later stages. Inflating every convolution would triple a MobileNet-style network's
    cost; this choice adds about a quarter (EfficientNet-Lite0, 8 frames of 112 px: 2.13 GFLOPs
    per clip against 1.69 frame by frame; inflated: the stem and the expansion convolutions
    that open blocks 3 to 6).
    """
    names = {id(module): name for name, module in network.named_modules()}
    chosen = [names[id(_first_conv(network))]]
    for stage in stages[len(stages) // 2:]:
        pointwise = [m for module in stage for m in module.modules() if _is_pointwise(m)]
        if pointwise and names[id(pointwise[0])] not in chosen:
            chosen.append(names[id(pointwise[0])])
    return chosen


def set_frames(network: nn.Module, frames: int) -> None:
    """Tell every :class:`TemporalConv` of ``network`` how many frames a clip of the next batch has."""
    for module in temporal_convs(network):
        module.frames = frames


def temporal_convs(network: nn.Module) -> Iterator[TemporalConv]:
    return (m for m in network.modules() if isinstance(m, TemporalConv))


def _first_conv(network: nn.Module) -> nn.Conv2d:
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ConfigError(f"{type(network).__name__} has no 2D convolution to inflate")


def _is_pointwise(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1) and module.groups == 1


def _is_tf_same(conv: nn.Conv2d) -> bool:
    """timm's Conv2dSame pads dynamically ("same" as in TensorFlow) in its forward."""
    try:
        from timm.layers import Conv2dSame
    except ImportError:
        return False
    return isinstance(conv, Conv2dSame)
