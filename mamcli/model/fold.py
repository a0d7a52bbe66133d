"""An inference copy of M2M with normalisation folded into the convolutions.

In eval mode spectral norm is a constant scale of each weight and batch norm a constant
per-channel affine map, so both fold into the convolution before them: one convolution
(with a bias) instead of a matrix-vector product, a convolution and a normalisation pass
per layer. The shortcut's nearest-neighbour upsampling and 1 x 1 convolution commute
exactly, so the folded copy convolves first, at a quarter of the pixels. The result equals
the original network up to float rounding (about 1e-6 in fp32). Training keeps using `M2M`.

With `fuse` each convolution that a LeakyReLU follows runs as one oneDNN call with the
activation as a post-op (`mamcli.model.onednn`): no pass of its own over a 32 x 1024 x
1024 tensor. Residual sums and their activation run in place. Where the fused kernel does
not apply (other devices, fp16, a PyTorch without it) the same layers run unfused.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from mamcli.model import onednn
from mamcli.model.m2m import LEAK, M2M, Block, SpectralNorm

_FUSED_DTYPES = (torch.float32, torch.bfloat16)


def _plain(conv: nn.Module) -> tuple[nn.Conv2d | nn.ConvTranspose2d, torch.Tensor]:
    """The convolution inside a possibly spectral-normed module, and its effective weight."""
    if isinstance(conv, SpectralNorm):
        return conv.module, conv._weight()
    return conv, conv.weight


def fold_conv_bn(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Conv2d | nn.ConvTranspose2d:
    """A new convolution computing bn(conv(x)) with eval-mode batch-norm statistics."""
    inner, weight = _plain(conv)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * scale
    # Output channels are dim 0 of a Conv2d weight and dim 1 of a ConvTranspose2d weight.
    out_dim = 1 if isinstance(inner, nn.ConvTranspose2d) else 0
    shape = [1] * weight.dim()
    shape[out_dim] = -1
    bias = shift if inner.bias is None else inner.bias * scale + shift
    folded = copy.deepcopy(inner)
    folded._parameters.clear()
    folded._buffers.clear()  # spectral norm's u and v
    folded.weight = nn.Parameter(weight * scale.reshape(shape), requires_grad=False)
    folded.bias = nn.Parameter(bias, requires_grad=False)
    return folded


class ConvLeaky(nn.Module):
    """leaky_relu(conv(x)), fused into one oneDNN call on the CPU where it can be."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d, fuse: bool) -> None:
        super().__init__()
        self.conv = conv
        self.fuse = fuse and onednn.available()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        if not (self.fuse and onednn.runs_fused(x, _FUSED_DTYPES)):
            return F.leaky_relu_(conv(x), LEAK)
        weight, bias = conv.weight.to(x.dtype), conv.bias.to(x.dtype)
        common = (list(conv.stride), list(conv.dilation), conv.groups, "leaky_relu", [LEAK], "")
        if isinstance(conv, nn.ConvTranspose2d):
            padding, extra = list(conv.padding), list(conv.output_padding)
            return torch.ops.mkldnn._convolution_transpose_pointwise(
                x, weight, bias, padding, extra, *common
            )
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, list(conv.padding), *common)


class FoldedBlock(nn.Module):
    """A residual `Block` with its norms folded: conv1 + activation, conv2, shortcut, sum
    and activation (the last two in place)."""

    def __init__(self, block: Block, fuse: bool) -> None:
        super().__init__()
        self.conv1 = ConvLeaky(fold_conv_bn(block.conv1, block.bn1), fuse)
        self.conv2 = fold_conv_bn(block.conv2, block.bn2)
        self.shortcut: nn.Module = nn.Identity()
        if block.upsample is not None:
            upsample, conv, bn = block.upsample
            self.shortcut = nn.Sequential(fold_conv_bn(conv, bn), upsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        out += self.shortcut(x)
        return F.leaky_relu_(out, LEAK)


def _fold_head(head: nn.Sequential, fuse: bool) -> nn.Sequential:
    conv, bn, _activation, out = head
    return nn.Sequential(ConvLeaky(fold_conv_bn(conv, bn), fuse), out)


@torch.no_grad()
def fold_for_inference(m2m: M2M, fuse: bool = True) -> M2M:
    """An eval-only copy of `m2m` with spectral and batch norms folded into the convolutions
    (and, with `fuse`, convolutions fused with their activation).

    The copy has a different state dict (it is not a checkpoint layout); `m2m` is untouched.
    """
    folded = copy.deepcopy(m2m).eval()
    for layer in (folded.layer2, folded.layer3, folded.layer4):
        for index, block in enumerate(layer):
            layer[index] = FoldedBlock(block, fuse)
    folded.conv1 = ConvLeaky(fold_conv_bn(folded.conv1, folded.bn1), fuse)
    folded.bn1, folded.activation = nn.Identity(), nn.Identity()
    for name in ("refine_OS1", "refine_OS4", "refine_OS8"):
        setattr(folded, name, _fold_head(getattr(folded, name), fuse))
    return folded.requires_grad_(False)
