"""The part of the image where M2M's alphas can reach the result, and M2M run on just that.

Refinement (mamcli/model/refine.py) starts from SAM's mask outside a band (maskguide) or
outside the mask's box (postprocess): both are zero outside the mask's bounding box. Each
later step takes a finer alpha only within w // 2 pixels of a non-zero one, so the final
alpha is zero, and no M2M value is read, farther than w8 // 2 + w4 // 2 + w1 // 2 pixels
from that box. M2M is a stack of convolutions whose outputs depend on inputs within about
98 pixels (its receptive field at the input resolution), so running it on a crop of its
inputs that reaches HALO pixels beyond that region gives the same alphas there, up to float
rounding, at the cost of the crop's area: for an object a quarter of the image's size,
about a third of the work. Crops start and end on the embedding's 16-pixel grid, where
every resize inside M2M samples the same input pixels as on the whole image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from mamcli.model.config import RefineConfig

GRID = 16  # input pixels per SAM embedding cell (and 4 guide-mask cells)
HALO = 128  # input pixels: M2M's receptive field (about 98) with a margin, on the grid


def refinement_reach(config: RefineConfig) -> int:
    """How far (original pixels) outside the mask's box refinement can still read M2M."""
    return sum(width // 2 for width in config.widths)


@dataclass(frozen=True)
class Window:
    """A crop [top, bottom) x [left, right) of M2M's full_size x full_size input, on the
    16-pixel grid."""

    top: int
    left: int
    bottom: int
    right: int
    full_size: int

    @property
    def area(self) -> int:
        return (self.bottom - self.top) * (self.right - self.left)

    def crop(self, t: torch.Tensor) -> torch.Tensor:
        """The window of an N x C x s x s map at any of M2M's scales (S / s a power of 2
        up to 16)."""
        scale = self.full_size // t.shape[-1]
        top, bottom = self.top // scale, self.bottom // scale
        return t[..., top:bottom, self.left // scale : self.right // scale]

    def paste(self, t: torch.Tensor) -> torch.Tensor:
        """The full-size N x C x S x S map holding `t` in the window, zero elsewhere."""
        full = t.new_zeros(*t.shape[:-2], self.full_size, self.full_size)
        full[..., self.top : self.bottom, self.left : self.right] = t
        return full


def m2m_window(
    post_mask: torch.Tensor,
    input_size: tuple[int, int],
    full_size: int,
    config: RefineConfig,
) -> Window | None:
    """The crop of M2M's input that covers every pixel refinement can read for these masks
    (N x H x W at the original size; one window for the whole batch). None when every
    mask is empty: then the alpha is zero everywhere and M2M need not run."""
    rows, cols = post_mask.any(dim=2).any(dim=0), post_mask.any(dim=1).any(dim=0)
    if not bool(rows.any()):
        return None
    reach = refinement_reach(config)
    height, width = post_mask.shape[-2:]
    top, bottom = _input_span(rows, reach, input_size[0] / height)
    left, right = _input_span(cols, reach, input_size[1] / width)
    return Window(
        top=max(0, _down(top - HALO)),
        left=max(0, _down(left - HALO)),
        bottom=min(full_size, _up(bottom + HALO)),
        right=min(full_size, _up(right + HALO)),
        full_size=full_size,
    )


def _input_span(occupied: torch.Tensor, reach: int, scale: float) -> tuple[int, int]:
    """[first, last + 1) of the input pixels that bilinear resizing to the original size
    reads for the original pixels within `reach` of the occupied ones (a pixel of slack)."""
    index = torch.nonzero(occupied)
    first, last = int(index[0]) - reach, int(index[-1]) + reach
    return int((first + 0.5) * scale - 0.5) - 2, int((last + 0.5) * scale - 0.5) + 3


def _down(value: int) -> int:
    return value // GRID * GRID


def _up(value: int) -> int:
    return -(-value // GRID) * GRID


def run_in_window(
    m2m: Callable[..., object],
    window: Window,
    embedding: torch.Tensor,
    model_input: torch.Tensor,
    guide: torch.Tensor,
):
    """`m2m` on the window of its three inputs; its alphas pasted into full-size maps."""
    out = m2m(window.crop(embedding), window.crop(model_input), window.crop(guide))
    for name in ("alpha_os1", "alpha_os4", "alpha_os8", "mask"):
        setattr(out, name, window.paste(getattr(out, name)))
    return out
