"""Cut-outs, composites, backgrounds, crops and previews from an alpha matte."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mamcli.errors import InputError
from mamcli.imaging.compose import (
    checkerboard,
    composite,
    contact_sheet,
    cover_resize,
    crop_box,
    cutout_rgba,
    estimate_foreground,
    load_background,
)

RED = np.array([0.85, 0.1, 0.1])


@pytest.fixture(scope="module")
def soft_edge() -> tuple[np.ndarray, np.ndarray]:
    """Pure red over a bright green texture with a 40 px alpha ramp; (rgb uint8, alpha)."""
    rng = np.random.default_rng(1)
    h, w = 120, 200
    alpha = np.tile(np.clip((np.arange(w) - 80) / 40, 0, 1), (h, 1))
    background = np.clip(np.array([0.1, 0.8, 0.2]) + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
    image = alpha[..., None] * RED + (1 - alpha[..., None]) * background
    return np.round(image * 255).astype(np.uint8), alpha.astype(np.float32)


@pytest.mark.parametrize("working_size", [1024, 64])
def test_foreground_estimation_removes_background_bleed(soft_edge, working_size):
    rgb, alpha = soft_edge
    fg = estimate_foreground(rgb, alpha, working_size=working_size)
    assert fg.shape == rgb.shape and fg.dtype == np.float32
    soft = (alpha > 0.2) & (alpha < 0.8)
    naive_error = np.abs(rgb[soft] / 255 - RED).mean()
    estimated_error = np.abs(fg[soft] - RED).mean()
    assert estimated_error < 0.3 * naive_error
    opaque = alpha == 1
    assert np.abs(fg[opaque] - rgb[opaque] / 255).max() < 0.02


def test_cutout_rgba_values(soft_edge):
    rgb, alpha = soft_edge
    plain = cutout_rgba(rgb, alpha)
    assert plain.shape == (*rgb.shape[:2], 4) and plain.dtype == np.uint8
    assert np.array_equal(plain[..., :3], rgb)
    assert np.array_equal(plain[..., 3], np.floor(alpha * 255 + 0.5).astype(np.uint8))
    fg = np.zeros(rgb.shape, np.float32)
    fg[..., 0] = 1.0
    red = cutout_rgba(rgb, (alpha * 255).astype(np.uint8), fg)
    assert (red[..., 0] == 255).all() and (red[..., 1:3] == 0).all()


def test_composite_mixes_by_alpha():
    fg = np.full((2, 3, 3), 200, np.uint8)
    bg = np.full((2, 3, 3), 100, np.uint8)
    alpha = np.array([[0, 0.5, 1], [1, 0.25, 0]], np.float32)
    out = composite(fg, alpha, bg)
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert out[..., 0].tolist() == [[100, 150, 200], [200, 125, 100]]
    float_fg = np.full((2, 3, 3), 200 / 255, np.float32)
    assert np.array_equal(composite(float_fg, alpha, bg), out)


def test_cover_resize_scales_to_cover_and_centre_crops():
    gradient = np.tile(np.arange(400, dtype=np.uint8)[None, :, None] // 2, (100, 1, 3))
    out = cover_resize(gradient, (50, 50))  # 100 x 400 -> 50 x 200, keep the middle 50
    assert out.shape == (50, 50, 3)
    assert abs(int(out[25, 0, 0]) - 75) <= 2 and abs(int(out[25, 49, 0]) - 124) <= 2
    wide = cover_resize(gradient, (300, 200))  # upscaled x3 to 300 x 1200
    assert wide.shape == (300, 200, 3)


@pytest.mark.parametrize(
    ("spec", "colour"),
    [("white", (255, 255, 255)), ("#00ff00", (0, 255, 0)), ("#f00", (255, 0, 0)),
     ("0, 0, 255", (0, 0, 255)), ("Grey", (128, 128, 128))],
)  # fmt: skip
def test_background_colours(spec, colour):
    out = load_background(spec, (4, 6))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert (out == np.array(colour, np.uint8)).all()


@pytest.mark.parametrize("spec", ["#12345", "300,0,0", "no-such-thing"])
def test_bad_background_names_the_problem(spec):
    with pytest.raises(InputError, match="not a colour"):
        load_background(spec, (4, 6))


def _write(path, value: int) -> None:
    image = np.full((30, 40, 3), value, np.uint8)
    image[:, :20, 0] = 0  # left half differs: the crop must come from the centre
    cv2.imwrite(str(path), image)


def test_background_image_file_is_cover_resized(tmp_path):
    _write(tmp_path / "bg.png", 90)
    out = load_background(str(tmp_path / "bg.png"), (60, 60))
    assert out.shape == (60, 60, 3)
    assert out[30, 0].tolist() == [90, 90, 0] and out[30, 59].tolist() == [90, 90, 90]


def test_background_folder_choice_is_deterministic(tmp_path):
    for i, value in enumerate((10, 60, 110, 160)):
        _write(tmp_path / f"bg{i}.png", value)
    (tmp_path / "notes.txt").write_text("not an image")
    picks = {
        key: load_background(str(tmp_path), (8, 8), key)[4, 7, 1] for key in map(str, range(40))
    }
    again = {key: load_background(str(tmp_path), (8, 8), key)[4, 7, 1] for key in picks}
    assert picks == again
    assert len(set(picks.values())) > 1  # different images get different backgrounds
    assert set(picks.values()) <= {10, 60, 110, 160}


def test_empty_background_folder_and_unreadable_image(tmp_path):
    with pytest.raises(InputError, match="no images"):
        load_background(str(tmp_path), (8, 8))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(InputError, match="not an image file"):
        load_background(str(broken), (8, 8))


def test_crop_box():
    alpha = np.zeros((50, 80), np.float32)
    alpha[10:20, 30:45] = 0.5
    assert crop_box(alpha) == (30, 10, 45, 20)
    assert crop_box(alpha, margin=12) == (18, 0, 57, 32)
    assert crop_box(np.zeros((5, 5), np.uint8)) is None
    assert crop_box(np.full((5, 5), 1e-4, np.float32)) is None  # rounds to 0 in 8 bits


def test_checkerboard_and_contact_sheet(soft_edge):
    board = checkerboard(40, 50, cell=10)
    assert board.shape == (40, 50, 3) and len(np.unique(board)) == 2
    assert board[0, 0, 0] != board[0, 10, 0] and board[0, 0, 0] == board[10, 10, 0]
    rgb, alpha = soft_edge
    cut = cutout_rgba(rgb, alpha)
    comp = composite(rgb, alpha, load_background("white", rgb.shape[:2]))
    sheet = contact_sheet([(rgb, alpha, cut, comp), (rgb, alpha, cut, comp)], tile=(90, 120))
    assert sheet.shape == (24 + 2 * 90, 4 * 120, 3) and sheet.dtype == np.uint8
    assert sheet[:24].max() > 200  # the header has light text on dark
