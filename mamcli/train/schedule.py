"""Schedules of the training recipe: learning rate, loss weight maps, gradient clipping.

All follow the paper's recipe: linear warm-up then cosine decay; weight maps that are 1
everywhere during warm-up and afterwards focus os4 / os1 on the uncertain band; clipping
against twice a running max norm.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from mamcli.model.refine import dilate

# Widths of the prediction-guided weight maps at 1024 px (the paper's); scaled with the image size.
OS4_MAX_WIDTH = 30
OS1_MAX_WIDTH = 15
UNKNOWN = 128


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the base lr for the update at 0-based `step`.

    Linear warm-up (1/warmup ... 1) over `warmup_steps`, then cosine decay to 0 at `total_steps`.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def scaled_width(width_at_1024: int, image_size: int) -> int:
    """A width given for 1024 px crops, scaled to `image_size` (at least 1)."""
    return max(1, round(width_at_1024 * image_size / 1024))


def transition_region(alpha: torch.Tensor, size: int) -> torch.Tensor:
    """1 within ellipse(size) of a pixel strictly between 1/255 and 254/255 (B x 1 x H x W)."""
    uncertain = (alpha > 1.0 / 255.0) & (alpha < 254.0 / 255.0)
    return dilate(uncertain.squeeze(1), size).unsqueeze(1).float()


def weight_maps(
    step: int,
    warmup_steps: int,
    trimap: torch.Tensor,
    alpha_os8: torch.Tensor,
    alpha_os4: torch.Tensor,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Loss weight maps of one step (B x 1 x H x W each).

    During warm-up all are 1. Afterwards, on half of the steps (random) os4 and os1 use the
    trimap's unknown region; on the others os4 uses the dilated transition band of the os8
    prediction (random width up to 30 at 1024 px) and os1 that of os4 (up to 15).
    """
    ones = torch.ones_like(alpha_os8, dtype=torch.float32)
    if step < warmup_steps:
        return {"os1": ones, "os4": ones, "os8": ones}
    if torch.rand((), generator=generator).item() < 0.5:
        unknown = (trimap == UNKNOWN).float()
        return {"os1": unknown, "os4": unknown, "os8": ones}
    size = alpha_os8.shape[-1]

    def random_width(max_at_1024: int) -> int:
        high = scaled_width(max_at_1024, size)
        return int(torch.randint(1, high + 1, (), generator=generator).item())

    with torch.no_grad():
        os4 = transition_region(alpha_os8.detach(), random_width(OS4_MAX_WIDTH))
        os1 = transition_region(alpha_os4.detach(), random_width(OS1_MAX_WIDTH))
    return {"os1": os1, "os4": os4, "os8": ones}


class GradClipper:
    """Clip the gradient norm at twice a running norm (0.999 running average).

    The first call measures the norm and uses it as the running value; later norms enter
    the average capped at the clip threshold, so one spike cannot inflate it.
    """

    def __init__(self, momentum: float = 0.999) -> None:
        self.momentum = momentum
        self.running: float | None = None

    def __call__(self, parameters: Iterable[torch.nn.Parameter]) -> float:
        """Clip in place; returns the norm measured before clipping."""
        parameters = [p for p in parameters if p.grad is not None]
        if self.running is None:
            self.running = float(torch.nn.utils.clip_grad_norm_(parameters, float("inf")))
            return self.running
        limit = 2.0 * self.running
        norm = float(torch.nn.utils.clip_grad_norm_(parameters, limit))
        if math.isfinite(norm):
            self.running = self.momentum * self.running + (1 - self.momentum) * min(norm, limit)
        return norm

    def state_dict(self) -> dict[str, float | None]:
        return {"running": self.running, "momentum": self.momentum}

    def load_state_dict(self, state: dict[str, float | None]) -> None:
        self.running = state["running"]
        self.momentum = float(state["momentum"])
