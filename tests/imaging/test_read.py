"""find_images and load_rgb on real files of every supported kind (and broken ones)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from mamcli.errors import InputError
from mamcli.imaging.read import ALPHA_CHANNEL_NOTE, load_alpha, load_rgb, read_alpha
from mamcli.matte.inputs import find_images, glob_matches

RNG = np.random.default_rng(0)


def _pattern(height: int = 12, width: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _touch_image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pattern(4, 4)).save(path, format="PNG")
    return path


# --- decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "exact"),
    [
        ("a.png", {}, True),
        ("a.bmp", {}, True),
        ("a.tif", {}, True),
        ("a.tiff", {"compression": "tiff_lzw"}, True),
        ("a.webp", {"lossless": True}, True),
        ("a.jpg", {"quality": 95}, False),
        ("a.JPEG", {"quality": 95, "format": "JPEG"}, False),
    ],
)
def test_each_format_loads_as_rgb(tmp_path: Path, name: str, options: dict, exact: bool) -> None:
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, :16] = (200, 30, 40)
    rgb[:, 16:] = (20, 60, 220)
    Image.fromarray(rgb).save(tmp_path / name, **options)
    loaded = load_rgb(tmp_path / name)
    assert loaded.rgb.shape == (24, 32, 3)
    assert loaded.rgb.dtype == np.uint8
    assert loaded.notes == []
    assert not loaded.exif_rotated
    if exact:
        np.testing.assert_array_equal(loaded.rgb, rgb)
    else:
        diff = np.abs(loaded.rgb[4:-4, 4:12].astype(int) - rgb[4:-4, 4:12])
        assert diff.max() <= 8


def _noisy_jpeg(path: Path) -> bytes:
    Image.fromarray(_pattern(96, 96)).save(path, quality=95)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.7, 200])
def test_truncated_jpeg_is_an_error(tmp_path: Path, keep: float) -> None:
    data = _noisy_jpeg(tmp_path / "full.jpg")
    cut = int(len(data) * keep) if keep < 1 else int(keep)
    (tmp_path / "cut.jpg").write_bytes(data[:cut])
    with pytest.raises(InputError) as err:
        load_rgb(tmp_path / "cut.jpg")
    assert err.value.path == str(tmp_path / "cut.jpg")
    assert "truncated or corrupt image data" in err.value.problem


def test_zero_byte_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty file \(0 bytes\)"):
        load_rgb(tmp_path / "empty.jpg")


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(InputError, match="not an image file"):
        load_rgb(tmp_path / "notes.png")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_rgb(tmp_path / "gone.png")


def _with_orientation(rgb: np.ndarray, path: Path, orientation: int, **options) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), **options)


def test_exif_orientation_6_rotates_clockwise(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high as stored
    stored[:10] = (255, 0, 0)  # top half red
    stored[10:] = (0, 0, 255)  # bottom half blue
    _with_orientation(stored, tmp_path / "rot.jpg", 6, quality=95)
    loaded = load_rgb(tmp_path / "rot.jpg")
    assert loaded.exif_rotated
    assert loaded.rgb.shape == (40, 20, 3)  # displayed 20 wide, 40 high
    # Orientation 6 shows the stored top on the right: right half red, left half blue.
    assert loaded.rgb[20, 15, 0] > 200 and loaded.rgb[20, 15, 2] < 50
    assert loaded.rgb[20, 4, 2] > 200 and loaded.rgb[20, 4, 0] < 50


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(tmp_path: Path, orientation) -> None:
    path = tmp_path / f"o{orientation}.png"
    _with_orientation(_pattern(5, 7), path, orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    loaded = load_rgb(path)
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert loaded.exif_rotated == (orientation != 1)


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 255, 257, 32767, 32896, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    loaded = load_rgb(tmp_path / "deep.png")
    assert loaded.orig_mode.startswith("I")
    expected = np.round(values / 257).astype(np.uint8)  # 0, 1, 1, 127, 128, 255
    np.testing.assert_array_equal(loaded.rgb[..., 0], expected)
    np.testing.assert_array_equal(loaded.rgb[..., 1], loaded.rgb[..., 2])
    assert loaded.rgb[0, 4, 0] == 128 and loaded.rgb[0, 5, 0] == 255


@pytest.mark.parametrize("name", ["deep.png", "deep.tif"])
def test_16bit_colour_is_rounded_per_channel(tmp_path: Path, name: str) -> None:
    rgb16 = np.zeros((2, 3, 3), np.uint16)
    rgb16[0, 0] = (65535, 32896, 255)  # 255 / 257 rounds to 1; dropping the low byte gives 0
    rgb16[1, 2] = (0, 257, 40000)
    assert cv2.imwrite(str(tmp_path / name), rgb16[..., ::-1])  # OpenCV writes BGR
    loaded = load_rgb(tmp_path / name)
    np.testing.assert_array_equal(loaded.rgb, np.round(rgb16 / 257).astype(np.uint8))
    assert loaded.rgb[0, 0].tolist() == [255, 128, 1]


def test_16bit_grey_tiff(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.tiff")
    assert load_rgb(tmp_path / "deep.tiff").rgb[0, :, 1].tolist() == [0, 128, 255]


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "print.jpg", quality=95)
    loaded = load_rgb(tmp_path / "print.jpg")
    assert loaded.orig_mode == "CMYK"
    r, g, b = loaded.rgb[8, 8].tolist()
    assert r > 230 and g < 30 and b < 30  # cyan 0, magenta+yellow full: red
    assert any("CMYK" in note for note in loaded.notes)


def test_greyscale_image(tmp_path: Path) -> None:
    grey = RNG.integers(0, 256, (6, 9), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    loaded = load_rgb(tmp_path / "grey.png")
    assert loaded.orig_mode == "L"
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[..., channel], grey)


def test_grey_with_alpha_notes_the_alpha(tmp_path: Path) -> None:
    Image.new("LA", (4, 4), (90, 0)).save(tmp_path / "la.png")
    loaded = load_rgb(tmp_path / "la.png")
    assert loaded.rgb[0, 0].tolist() == [90, 90, 90]
    assert loaded.notes == ["existing alpha channel ignored"]


def test_palette_png_with_and_without_transparency(tmp_path: Path) -> None:
    palette = Image.new("P", (4, 2))
    palette.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "plain.png")
    palette.save(tmp_path / "clear.png", transparency=0)
    plain = load_rgb(tmp_path / "plain.png")
    clear = load_rgb(tmp_path / "clear.png")
    assert plain.orig_mode == "P" and plain.notes == []
    for loaded in (plain, clear):
        assert loaded.rgb[0, 0].tolist() == [10, 20, 30]
        assert loaded.rgb[0, 1].tolist() == [200, 100, 50]
    assert clear.notes == ["existing alpha channel ignored"]


def test_rgba_uses_colour_and_ignores_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., :3] = (12, 34, 56)
    rgba[0, 0, 3] = 255  # the rest fully transparent: its colour must still come through
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    loaded = load_rgb(tmp_path / "cut.png")
    assert loaded.orig_mode == "RGBA"
    assert (loaded.rgb == (12, 34, 56)).all()
    assert "existing alpha channel ignored" in loaded.notes


def test_name_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    folder = tmp_path / "Fotos 2024 é"
    path = folder / "mön café 写真.png"
    folder.mkdir()
    rgb = _pattern(5, 5)
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(load_rgb(path).rgb, rgb)
    items = find_images([tmp_path])
    assert [item.rel for item in items] == [PurePosixPath("Fotos 2024 é/mön café 写真.png")]


def test_pixel_limit(tmp_path: Path) -> None:
    Image.fromarray(_pattern(10, 30)).save(tmp_path / "wide.png")
    assert load_rgb(tmp_path / "wide.png", max_pixels=300).rgb.shape == (10, 30, 3)
    with pytest.raises(InputError) as err:
        load_rgb(tmp_path / "wide.png", max_pixels=299)
    assert err.value.problem == "image is 30 x 10 = 300 pixels, over the --max-pixels limit 299"


def test_pixel_limit_is_ours_even_above_pillows_bomb_limit(tmp_path: Path) -> None:
    # 200 megapixels of 1-bit zeros: a few KB on disk, over Pillow's own 2x limit.
    Image.new("1", (20000, 10000)).save(tmp_path / "bomb.png")
    with pytest.raises(InputError, match=r"20000 x 10000 = 200000000 pixels, over the"):
        load_rgb(tmp_path / "bomb.png")
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's global limit is left as it was


def test_multi_frame_takes_the_first(tmp_path: Path) -> None:
    first, second = _pattern(6, 6), _pattern(6, 6)
    Image.fromarray(first).save(
        tmp_path / "pages.tif", save_all=True, append_images=[Image.fromarray(second)]
    )
    loaded = load_rgb(tmp_path / "pages.tif")
    np.testing.assert_array_equal(loaded.rgb, first)
    assert loaded.notes == ["multi-frame file: using the first of 2 frames"]


# --- alpha mattes -------------------------------------------------------------------


def _ramp(height: int = 3, width: int = 5) -> np.ndarray:
    return (np.arange(height * width).reshape(height, width) * 17).astype(np.uint8)


def test_alpha_grey_8_and_16_bit(tmp_path: Path) -> None:
    assert cv2.imwrite(str(tmp_path / "a8.png"), _ramp())
    np.testing.assert_array_equal(read_alpha(tmp_path / "a8.png"), _ramp())
    wide = np.array([[0, 128, 129, 385, 65535]], np.uint16)  # round(x / 257): 0, 0, 1, 1, 255
    assert cv2.imwrite(str(tmp_path / "a16.png"), wide)
    assert read_alpha(tmp_path / "a16.png").tolist() == [[0, 0, 1, 1, 255]]


def test_alpha_grey_plus_alpha_8_and_16_bit(tmp_path: Path) -> None:
    grey, matte = np.full((3, 5), 9, np.uint8), _ramp()
    Image.fromarray(np.dstack([grey, matte]), "LA").save(tmp_path / "la.png")
    loaded = load_alpha(tmp_path / "la.png")
    np.testing.assert_array_equal(loaded.alpha, matte)
    assert loaded.notes == [ALPHA_CHANNEL_NOTE]
    opaque = np.dstack([matte, np.full((3, 5), 255, np.uint8)])
    Image.fromarray(opaque, "LA").save(tmp_path / "opaque.png")
    assert load_alpha(tmp_path / "opaque.png").notes == []  # opaque alpha: the grey is the matte
    np.testing.assert_array_equal(read_alpha(tmp_path / "opaque.png"), matte)
    bgra16 = np.dstack([np.full((3, 5, 3), 40000, np.uint16), matte.astype(np.uint16) * 257])
    assert cv2.imwrite(str(tmp_path / "rgba16.png"), bgra16)
    np.testing.assert_array_equal(read_alpha(tmp_path / "rgba16.png"), matte)


def test_alpha_refuses_a_colour_photo(tmp_path: Path) -> None:
    Image.fromarray(_pattern(6, 6)).save(tmp_path / "photo.png")
    with pytest.raises(InputError, match="photo.png: looks like a colour photo, not an alpha"):
        read_alpha(tmp_path / "photo.png")
    Image.fromarray(np.repeat(_ramp()[..., None], 3, axis=2)).save(tmp_path / "grey_rgb.jpg")
    assert np.abs(read_alpha(tmp_path / "grey_rgb.jpg").astype(int) - _ramp()).max() <= 6
    near_grey = np.dstack([_ramp(), _ramp(), np.clip(_ramp().astype(int) + 6, 0, 255)])
    Image.fromarray(near_grey.astype(np.uint8)).save(tmp_path / "near.png")
    expected = np.round((2 * _ramp().astype(int) + near_grey[..., 2]) / 3)
    np.testing.assert_array_equal(read_alpha(tmp_path / "near.png"), expected)


def test_alpha_pixel_limit_and_bad_file(tmp_path: Path) -> None:
    assert cv2.imwrite(str(tmp_path / "a.png"), _ramp())
    with pytest.raises(InputError, match="over the --max-pixels limit 14"):
        read_alpha(tmp_path / "a.png", max_pixels=14)
    (tmp_path / "b.png").write_text("hello")
    with pytest.raises(InputError, match="b.png: not an image file"):
        read_alpha(tmp_path / "b.png")


# --- finding ------------------------------------------------------------------------


def _tree(root: Path) -> None:
    for rel in [
        "b.jpg",
        "A.PNG",
        "sub/c.png",
        "sub/deep/d.TIFF",
        "sub/e.webp",
        "x.bmp",
        ".hidden.png",
        ".cache/f.png",
        "out/g.png",
    ]:
        _touch_image(root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / "sub" / "c.json").write_text("[]")


def test_find_images_recursive_sorted_skipping_hidden_and_output(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    _tree(root)
    items = find_images([root], exclude=[root / "out"])
    assert [str(item.rel) for item in items] == [
        "A.PNG",
        "b.jpg",
        "sub/c.png",
        "sub/deep/d.TIFF",
        "sub/e.webp",
        "x.bmp",
    ]
    assert all(item.root == root and item.path == root / item.rel for item in items)
    included = find_images([root])
    assert "out/g.png" in [str(item.rel) for item in included]


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*.png", ["A.PNG", "sub/c.png"]),
        ("**/*.png", ["A.PNG", "sub/c.png"]),
        ("sub/*", ["sub/c.png", "sub/e.webp"]),
        ("sub/**/*.tiff", ["sub/deep/d.TIFF"]),
        ("?.jpg", ["b.jpg"]),
    ],
)
def test_find_images_glob(tmp_path: Path, glob: str, expected: list[str]) -> None:
    _tree(tmp_path)
    items = find_images([tmp_path], glob=glob, exclude=[tmp_path / "out"])
    assert [str(item.rel) for item in items] == expected


def test_glob_star_stays_within_one_folder() -> None:
    assert glob_matches(PurePosixPath("a/b.png"), "a/*.png")
    assert not glob_matches(PurePosixPath("a/x/b.png"), "a/*.png")
    assert glob_matches(PurePosixPath("a/x/b.png"), "a/**/*.png")
    assert glob_matches(PurePosixPath("a/b.png"), "a/**/*.png")


def test_find_images_files_given_directly(tmp_path: Path) -> None:
    one = _touch_image(tmp_path / "sub" / "one.jpg")
    two = _touch_image(tmp_path / "two.png")
    items = find_images([two, one, tmp_path / "sub"])  # one.jpg twice: listed once
    assert [(str(i.rel), i.root) for i in items] == [
        ("one.jpg", tmp_path / "sub"),
        ("two.png", tmp_path),
    ]


def test_find_images_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        find_images([tmp_path / "missing"])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="not a supported image type"):
        find_images([tmp_path / "a.txt"])
    assert find_images([tmp_path]) == []


def test_folders_with_a_mamignore_marker_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("L", (8, 8)).save(tmp_path / "gt" / "a.png")
    assert [str(i.rel) for i in find_images([tmp_path])] == ["a.png", "gt/a.png"]
    (tmp_path / "gt" / ".mamignore").write_text("")
    assert [str(i.rel) for i in find_images([tmp_path])] == ["a.png"]


def test_a_pipe_named_png_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.png")  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError, match="not a regular file"):
        load_rgb(tmp_path / "x.png")


def test_broken_and_looping_symlinks_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "gone.png").symlink_to("nothing.png")
    (tmp_path / "self.png").symlink_to("self.png")
    with pytest.raises(InputError, match="broken symbolic link"):
        load_rgb(tmp_path / "gone.png")
    with pytest.raises(InputError, match="symbolic links"):
        load_rgb(tmp_path / "self.png")
    target = _touch_image(tmp_path / "elsewhere" / "real.png")
    (tmp_path / "link.png").symlink_to(target)  # a file symlink is followed
    assert load_rgb(tmp_path / "link.png").rgb.shape == (4, 4, 3)


@pytest.mark.parametrize("orientation", [0, 9, 42, 65535])
def test_bogus_exif_orientation_keeps_the_pixels_as_stored(tmp_path: Path, orientation) -> None:
    pixels = _pattern(6, 10)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(tmp_path / "odd.png", exif=exif.tobytes())
    loaded = load_rgb(tmp_path / "odd.png")
    assert np.array_equal(loaded.rgb, pixels) and not loaded.exif_rotated


def test_find_images_skips_earlier_output_folders_and_does_not_follow_folder_links(
    tmp_path: Path,
) -> None:
    _touch_image(tmp_path / "in" / "a.png")
    _touch_image(tmp_path / "in" / "out1" / "alpha" / "a.png")
    (tmp_path / "in" / "out1" / ".mam").mkdir()
    (tmp_path / "in" / "out1" / ".mam" / "output").write_text("")
    (tmp_path / "in" / "loop").symlink_to(".", target_is_directory=True)
    assert [str(i.rel) for i in find_images([tmp_path / "in"])] == ["a.png"]


def test_find_images_names_a_pipe_given_directly(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.png")
    with pytest.raises(InputError, match="not a regular file or folder"):
        find_images([tmp_path / "x.png"])
