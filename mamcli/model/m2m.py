"""The Mask-to-Matte (M2M) refiner: SAM features + image + guide mask -> multi-scale alpha.

The layout (module names, spectral-norm tensors, channel counts) matches the released
MAM checkpoint exactly, so `load_state_dict(strict=True)` works on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LEAK = 0.2
# Input rows (half scale) a band of the full-scale stage reads beyond the rows it covers:
# through the transposed convolution and the head's two 3 x 3 convolutions, output row o
# depends on input rows o // 2 - 2 to o // 2 + 1.
OS1_BAND_MARGIN = 2


def _l2normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    """Spectral normalisation stored as `module.weight_bar`, `module.weight_u`, `module.weight_v`.

    The effective weight is weight_bar / sigma with sigma = u . (W v). In training each
    forward first refines u and v with one power iteration; in eval they are used as stored.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        weight = module.weight
        height = weight.shape[0]
        width = weight.numel() // height
        del module._parameters["weight"]
        module.register_parameter("weight_bar", nn.Parameter(weight.data))
        module.register_buffer("weight_u", _l2normalize(weight.new_empty(height).normal_()))
        module.register_buffer("weight_v", _l2normalize(weight.new_empty(width).normal_()))

    def _weight(self) -> torch.Tensor:
        w_bar = self.module.weight_bar
        w_mat = w_bar.reshape(w_bar.shape[0], -1)
        u, v = self.module.weight_u, self.module.weight_v
        if self.training:
            with torch.no_grad():
                v = _l2normalize(w_mat.t() @ u)
                u = _l2normalize(w_mat @ v)
                self.module.weight_u.copy_(u)
                self.module.weight_v.copy_(v)
        # In fp32 even under autocast: the dot product needs both vectors in one dtype.
        with torch.autocast(w_bar.device.type, enabled=False):
            sigma = torch.dot(u.float(), w_mat.float() @ v.float())
        return w_bar / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.module.weight = self._weight()
        return self.module(x)


@torch.no_grad()
def converge_spectral_norms(model: nn.Module, iterations: int = 50) -> nn.Module:
    """Power-iterate every spectral norm's u, v towards the top singular pair of its weight.

    A trained checkpoint carries converged u, v; freshly initialised ones are random, which
    makes sigma arbitrary and random-weight activations explode. Benchmarks and tests use
    this to get random models whose activations (and alpha differences) behave like real ones.
    """
    for module in model.modules():
        if isinstance(module, SpectralNorm):
            inner = module.module
            w_mat = inner.weight_bar.reshape(inner.weight_bar.shape[0], -1)
            u = inner.weight_u
            for _ in range(iterations):
                v = _l2normalize(w_mat.t() @ u)
                u = _l2normalize(w_mat @ v)
            inner.weight_u.copy_(u)
            inner.weight_v.copy_(v)
    return model


def _conv3x3(inplanes: int, planes: int) -> nn.Conv2d:
    return nn.Conv2d(inplanes, planes, 3, padding=1, bias=False)


def _up_conv(planes: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(planes, planes, 4, stride=2, padding=1, bias=False)


class Block(nn.Module):
    """Residual block; with `upsample` it doubles the resolution (transposed conv + shortcut)."""

    def __init__(self, inplanes: int, planes: int, upsample: bool) -> None:
        super().__init__()
        self.conv1 = SpectralNorm(_up_conv(inplanes) if upsample else _conv3x3(inplanes, inplanes))
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv2 = SpectralNorm(_conv3x3(inplanes, planes))
        self.bn2 = nn.BatchNorm2d(planes)
        self.activation = nn.LeakyReLU(LEAK, inplace=True)
        self.upsample = (
            nn.Sequential(
                nn.UpsamplingNearest2d(scale_factor=2),
                SpectralNorm(nn.Conv2d(inplanes, planes, 1, bias=False)),
                nn.BatchNorm2d(planes),
            )
            if upsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.activation(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.upsample is None else self.upsample(x)
        return self.activation(out + shortcut)


def _layer(inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(
        Block(inplanes, planes, upsample=True),
        *(Block(planes, planes, upsample=False) for _ in range(blocks - 1)),
    )


def _head(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.LeakyReLU(LEAK, inplace=True),
        nn.Conv2d(32, 1, 3, padding=1, bias=True),
    )


@dataclass
class M2MOutput:
    """Alphas in [0, 1] at the padded input resolution (B x 1 x S x S), and the guide mask."""

    alpha_os1: torch.Tensor
    alpha_os4: torch.Tensor
    alpha_os8: torch.Tensor
    mask: torch.Tensor


def _resize(t: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """`t` copied with NHWC strides (for one channel, `t.contiguous(channels_last)` is `t`)."""
    return torch.empty_like(t, memory_format=torch.channels_last).copy_(t)


def _alpha(logit: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(logit) + 1.0) / 2.0


class M2M(nn.Module):
    """Mask-to-Matte: refines SAM features at 1/16 into alphas at 1/8, 1/4 and full scale.

    Inputs: `x` SAM image embeddings (B x C x s x s, C = 256), `img` the normalised padded
    image (B x 3 x S x S, S = 16 s), `mask` the binary guide mask (B x 1 x 4s x 4s).
    """

    # Output rows per band of the full-scale stage (None: all at once); see `_os1_logit`.
    os1_band_rows: int | None = None

    def __init__(self, embed_dim: int = 256) -> None:
        super().__init__()
        self.layer2 = _layer(embed_dim + 4, 128, 3)
        self.layer3 = _layer(128 + 4, 64, 3)
        self.layer4 = _layer(64 + 4, 32, 2)
        self.conv1 = SpectralNorm(_up_conv(32))
        self.bn1 = nn.BatchNorm2d(32)
        self.activation = nn.LeakyReLU(LEAK, inplace=True)
        self.refine_OS1 = _head(32)
        self.refine_OS4 = _head(64)
        self.refine_OS8 = _head(128)

    def reset_parameters(self) -> None:
        """Initialisation for training from scratch (docs/model.md, "M2M")."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                weight = module.weight_bar if hasattr(module, "weight_bar") else module.weight
                nn.init.xavier_uniform_(weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, Block):
                nn.init.zeros_(module.bn2.weight)

    def _os1_tail(self, feat: torch.Tensor) -> torch.Tensor:
        return self.refine_OS1(self.activation(self.bn1(self.conv1(feat))))

    def _os1_logit(self, feat: torch.Tensor) -> torch.Tensor:
        """The full-scale logit from layer4's output (half scale), with `os1_band_rows` in
        bands of that many output rows, each from the input rows it depends on: the same
        numbers, but a band's 32-channel full-resolution maps stay in cache (at 1024 px they
        are 64 MB in bf16, each written and read back once)."""
        rows = self.os1_band_rows
        half = feat.shape[-2]
        if not rows or 2 * half <= rows:
            return self._os1_tail(feat)
        bands = []
        for top in range(0, 2 * half, rows):
            bottom = min(2 * half, top + rows)
            first = max(0, top // 2 - OS1_BAND_MARGIN)
            last = min(half, bottom // 2 + OS1_BAND_MARGIN)
            band = self._os1_tail(feat[..., first:last, :])
            bands.append(band[..., top - 2 * first : bottom - 2 * first, :])
        return torch.cat(bands, dim=-2)

    @staticmethod
    def _with_guides(feat: torch.Tensor, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        size = feat.shape[-2:]
        guides = [_resize(img, size), _resize(mask, size)]
        if feat.stride(1) == 1 and feat.shape[1] > 1:  # NHWC (channels_last)
            # torch.cat keeps NHWC only when every input has NHWC strides, and a 1-channel map
            # has NCHW ones: the NCHW result would then be converted back by each convolution
            # that reads it (measured: 2 copies per layer, 8 % of M2M's time on the CPU).
            guides = [g if g.stride(1) == 1 else _channels_last(g) for g in guides]
        return torch.cat([feat, *guides], dim=1)

    def forward(self, x: torch.Tensor, img: torch.Tensor, mask: torch.Tensor) -> M2MOutput:
        feat = self.layer2(self._with_guides(x, img, mask))
        logit_os8 = self.refine_OS8(feat)
        feat = self.layer3(self._with_guides(feat, img, mask))
        logit_os4 = self.refine_OS4(feat)
        logit_os1 = self._os1_logit(self.layer4(self._with_guides(feat, img, mask)))
        size = logit_os1.shape[-2:]
        return M2MOutput(
            alpha_os1=_alpha(logit_os1),
            alpha_os4=_alpha(_resize(logit_os4, size)),
            alpha_os8=_alpha(_resize(logit_os8, size)),
            mask=_resize(mask, size),
        )


def trainable_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (2,714,619 for the released layout)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
