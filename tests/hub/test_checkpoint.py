"""Safe checkpoint loading: real files written by torch.save, and broken ones."""

from __future__ import annotations

import io
import zlib

import pytest
import torch

from mamcli.errors import InputError
from mamcli.hub.checkpoint import check_state_dict, load_state_dict, save_checkpoint


class Custom:
    """A class weights_only loading must refuse to build."""


def _state() -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}


def _one_line_error(call, path) -> str:
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_saved_checkpoint_round_trips(tmp_path):
    path = tmp_path / "m2m.pth"
    state = _state()
    save_checkpoint(path, state, epoch=7)
    assert torch.load(path, weights_only=True)["epoch"] == 7
    loaded = load_state_dict(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert [p.name for p in tmp_path.iterdir()] == ["m2m.pth"]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "m2m.pth"
    save_checkpoint(path, _state())
    before = path.read_bytes()
    with pytest.raises(Exception, match="pickle"):
        save_checkpoint(path, _state(), hook=lambda: None)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m2m.pth"]


@pytest.mark.parametrize("wrapper", ["state_dict", "model", None])
def test_module_prefix_stripped_in_any_wrapper(tmp_path, wrapper):
    state = {f"module.{k}": v for k, v in _state().items()}
    path = tmp_path / "dp.pth"
    torch.save({wrapper: state, "epoch": 1} if wrapper else state, path)
    assert sorted(load_state_dict(path)) == ["conv.bias", "conv.weight"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.pth"
    assert "SAM checkpoint file not found" in _one_line_error(
        lambda: load_state_dict(path, what="SAM checkpoint"), path
    )


@pytest.mark.parametrize(
    "content",
    [b"this is a text file\nnot weights\n", b"\x89PNG\r\n\x1a\n" + zlib.compress(bytes(64))],
)
def test_text_or_png_is_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "notes.pth"
    path.write_bytes(content)
    assert "not a PyTorch checkpoint" in _one_line_error(lambda: load_state_dict(path), path)


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_checkpoint(tmp_path, zip_format):
    buffer = io.BytesIO()
    torch.save(_state(), buffer, _use_new_zipfile_serialization=zip_format)
    path = tmp_path / "cut.pth"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    assert "truncated or corrupted checkpoint" in _one_line_error(
        lambda: load_state_dict(path), path
    )


def test_custom_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": _state(), "extra": Custom()}, path)
    message = _one_line_error(lambda: load_state_dict(path), path)
    assert "arbitrary Python objects" in message and "Custom" in message
    assert "refused for safety" in message


def test_non_tensor_entries_are_rejected(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    assert "holds a list" in _one_line_error(lambda: load_state_dict(path), path)
    torch.save({"w": torch.zeros(2), "epoch": 3}, path)
    assert "'epoch' is int, not a tensor" in _one_line_error(lambda: load_state_dict(path), path)


def test_wrong_shapes_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(3, 4, 3, 3), "head.bias": torch.zeros(1)}, path)
    expected = {"conv.weight": (4, 3, 3, 3), "conv.bias": torch.Size([4])}
    state = load_state_dict(path)
    message = _one_line_error(lambda: check_state_dict(path, state, expected), path)
    assert "1 missing key (conv.bias)" in message
    assert "1 unexpected key (head.bias)" in message
    assert "conv.weight: expected (4, 3, 3, 3) got (3, 4, 3, 3)" in message
    check_state_dict(path, _state(), expected)  # the right layout passes


def test_long_mismatch_lists_are_shortened(tmp_path):
    expected = {f"k{i}": (1,) for i in range(10)}
    message = _one_line_error(lambda: check_state_dict("x.pth", {}, expected), "x.pth")
    assert "10 missing keys (k0, k1, k2, and 7 more)" in message
