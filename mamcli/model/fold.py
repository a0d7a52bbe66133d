"""An inference copy of M2M with normalisation folded into the convolutions.

In eval mode spectral norm is a constant scale of each weight and batch norm a constant
per-channel affine map, so both fold into the convolution before them: one convolution
(with a bias) instead of a matrix-vector product, a convolution and a normalisation pass
per layer. The shortcut's nearest-neighbour upsampling and 1 x 1 convolution commute
exactly, so the folded copy convolves first, at a quarter of the pixels. The result equals
the original network up to float rounding (about 1e-6 in fp32). Training keeps using `M2M`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mamcli.model.m2m import M2M, Block, SpectralNorm


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


def _fold_block(block: Block) -> None:
    block.conv1, block.bn1 = fold_conv_bn(block.conv1, block.bn1), nn.Identity()
    block.conv2, block.bn2 = fold_conv_bn(block.conv2, block.bn2), nn.Identity()
    if block.upsample is not None:
        upsample, conv, bn = block.upsample
        block.upsample = nn.Sequential(fold_conv_bn(conv, bn), upsample)


def _fold_head(head: nn.Sequential) -> nn.Sequential:
    conv, bn, activation, out = head
    return nn.Sequential(fold_conv_bn(conv, bn), activation, out)


@torch.no_grad()
def fold_for_inference(m2m: M2M) -> M2M:
    """An eval-only copy of `m2m` with spectral and batch norms folded into the convolutions.

    The copy has a different state dict (it is not a checkpoint layout); `m2m` is untouched.
    """
    folded = copy.deepcopy(m2m).eval()
    for module in folded.modules():
        if isinstance(module, Block):
            _fold_block(module)
    folded.conv1, folded.bn1 = fold_conv_bn(folded.conv1, folded.bn1), nn.Identity()
    for name in ("refine_OS1", "refine_OS4", "refine_OS8"):
        setattr(folded, name, _fold_head(getattr(folded, name)))
    return folded.requires_grad_(False)
