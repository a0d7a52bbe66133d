"""The training loss, learning-rate schedule, weight maps and gradient clipping."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from mamcli.train.loss import laplacian_l1, laplacian_pyramid, matting_loss
from mamcli.train.schedule import GradClipper, lr_factor, scaled_width, weight_maps


def _checkerboard(size: int, amplitude: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (amplitude * (-1.0) ** (yy + xx)).view(1, 1, size, size)


def test_constant_errors_cost_only_l1_with_the_scale_coefficients() -> None:
    """A constant difference has no Laplacian: L = 2/5 * 0.1 + 1/5 * 0.2 + 1/5 * 0.3 = 0.14."""
    gt = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    alphas = {"os1": gt + 0.1, "os4": gt + 0.2, "os8": gt - 0.3}
    weights = {k: torch.rand(2, 1, 64, 64) + 0.1 for k in alphas}
    terms = matting_loss(alphas, gt, weights)
    assert terms.total.item() == pytest.approx(0.14, abs=1e-6)
    assert terms.parts["os1"].item() == pytest.approx(0.04, abs=1e-6)


def test_checkerboard_error_lives_in_pyramid_level_zero_only() -> None:
    """The binomial kernel [1 4 6 4 1] / 16 cancels a +-a checkerboard (1 - 4 + 6 - 4 + 1 = 0),
    so level 0 is the checkerboard itself and the coarser levels are 0:
    L = 2/5 * (L1 0.1 + Lap 0.1) = 0.08."""
    gt = torch.full((1, 1, 64, 64), 0.5)
    board = _checkerboard(64, 0.1)
    bands = laplacian_pyramid(board)
    assert [tuple(b.shape[-2:]) for b in bands] == [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]
    assert torch.allclose(bands[0], board, atol=1e-7)
    assert all(b.abs().max() < 1e-7 for b in bands[1:])
    ones = torch.ones_like(gt)
    terms = matting_loss(
        {"os1": gt + board, "os4": gt, "os8": gt}, gt, {"os1": ones, "os4": ones, "os8": ones}
    )
    assert terms.total.item() == pytest.approx(0.08, abs=1e-6)


def _reference_pyramid(x: np.ndarray) -> list[np.ndarray]:
    """The spec's pyramid written out with loops (float64): blur, keep every 2nd pixel,
    re-expand by zero insertion and blur x 4, subtract."""
    row = np.array([1, 4, 6, 4, 1], float)
    kernel = np.outer(row, row) / 256

    def blur(a: np.ndarray) -> np.ndarray:
        padded = np.pad(a, 2, mode="reflect")
        out = np.zeros_like(a)
        for y in range(a.shape[0]):
            for x in range(a.shape[1]):
                out[y, x] = (padded[y : y + 5, x : x + 5] * kernel).sum()
        return out

    bands, current = [], x
    for _ in range(5):
        down = blur(current)[::2, ::2]
        up = np.zeros((2 * down.shape[0], 2 * down.shape[1]))
        up[::2, ::2] = down
        up = 4 * blur(up)[: current.shape[0], : current.shape[1]]
        bands.append(current - up)
        current = down
    return bands


def test_laplacian_loss_matches_the_written_out_pyramid() -> None:
    rng = np.random.default_rng(3)
    diff = rng.normal(size=(48, 48))
    weight = rng.uniform(0, 1, size=(48, 48))
    expected = sum(
        2**i * (np.abs(band) * weight[:: 2**i, :: 2**i]).sum() / weight[:: 2**i, :: 2**i].sum()
        for i, band in enumerate(_reference_pyramid(diff))
    )
    as_tensor = lambda a: torch.from_numpy(a).view(1, 1, 48, 48)  # noqa: E731
    got = laplacian_l1(as_tensor(diff), as_tensor(weight)).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_zero_weight_map_gives_zero_loss_not_nan() -> None:
    gt = torch.zeros(1, 1, 64, 64)
    zeros = torch.zeros_like(gt)
    terms = matting_loss(
        {k: gt + 0.5 for k in ("os1", "os4", "os8")},
        gt,
        dict.fromkeys(("os1", "os4", "os8"), zeros),
    )
    assert terms.total.item() == 0.0


def test_lr_warms_up_linearly_then_decays_by_cosine_to_zero() -> None:
    factors = [lr_factor(step, warmup_steps=4, total_steps=10) for step in range(11)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0
    assert factors[7] == pytest.approx(0.5)
    assert factors[5] == pytest.approx(0.5 * (1 + math.cos(math.pi / 6)))
    assert factors[10] == pytest.approx(0.0)


def _soft_square(size: int = 64) -> torch.Tensor:
    alpha = torch.zeros(1, 1, size, size)
    alpha[..., 20:44, 20:44] = 1.0
    alpha[..., 20:44, 30] = 0.5
    return alpha


def test_weight_maps_are_ones_during_warm_up() -> None:
    alpha = _soft_square()
    trimap = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    maps = weight_maps(9, 10, trimap, alpha, alpha, torch.Generator().manual_seed(0))
    assert all(torch.equal(m, torch.ones_like(alpha)) for m in maps.values())


def test_weight_maps_after_warm_up_use_trimap_or_dilated_predictions() -> None:
    os8, os4 = _soft_square(), _soft_square().transpose(-1, -2)
    trimap = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    trimap[..., 10:20, :] = 128
    generator = torch.Generator().manual_seed(0)
    kinds = []
    for step in range(10, 40):
        maps = weight_maps(step, 10, trimap, os8, os4, generator)
        assert torch.equal(maps["os8"], torch.ones_like(os8))
        if torch.equal(maps["os4"], (trimap == 128).float()):
            assert torch.equal(maps["os1"], (trimap == 128).float())
            kinds.append("trimap")
            continue
        kinds.append("prediction")
        for name, source, max_width in (("os4", os8, 30), ("os1", os4, 15)):
            band = ((source > 1 / 255) & (source < 254 / 255))[0, 0].numpy().astype(np.uint8)
            candidates = [
                cv2.dilate(band, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
                for k in range(1, scaled_width(max_width, 64) + 1)
            ]
            got = maps[name][0, 0].numpy().astype(np.uint8)
            assert any(np.array_equal(got, c) for c in candidates), name
    assert 5 < kinds.count("trimap") < 25  # about half of the steps


def test_grad_clipper_clips_at_twice_the_running_norm() -> None:
    param = torch.nn.Parameter(torch.zeros(4))
    clipper = GradClipper()
    param.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])  # norm 5: the first measurement
    assert clipper([param]) == pytest.approx(5.0)
    assert torch.equal(param.grad, torch.tensor([3.0, 4.0, 0.0, 0.0]))  # not clipped
    param.grad = torch.tensor([30.0, 40.0, 0.0, 0.0])  # norm 50 > 2 x 5
    assert clipper([param]) == pytest.approx(50.0)
    assert param.grad.norm().item() == pytest.approx(10.0, rel=1e-4)
    assert clipper.running == pytest.approx(0.999 * 5 + 0.001 * 10)
    restored = GradClipper()
    restored.load_state_dict(clipper.state_dict())
    assert restored.running == clipper.running
