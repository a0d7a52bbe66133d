"""The SAM stage's start-up work: segment-anything imported without torchvision, the
checkpoint mapped and its encoder never initialised, the encoder made on first use, and
the resize SAM was trained with reproduced exactly."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from mamcli.model.api import MattingAnything
from mamcli.model.sam import LongestSideResize, load_sam
from mamcli.prompts.auto import AutoPrompter
from tests.helpers import make_tiny_sam, synthetic_photo


@pytest.mark.parametrize("shape", [(180, 240), (240, 180), (1000, 999), (7, 1500), (256, 256)])
def test_resize_equals_segment_anythings(shape) -> None:
    from segment_anything.utils.transforms import ResizeLongestSide

    rgb = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours, theirs = LongestSideResize(256), ResizeLongestSide(256)
    assert np.array_equal(ours.image(rgb), theirs.apply_image(rgb))
    boxes = np.array([[3.5, 4.0, 100.25, 170.0], [0, 0, shape[1], shape[0]]])
    assert np.array_equal(ours.boxes(boxes, shape), theirs.apply_boxes(boxes, shape))
    points = np.array([[[1.0, 2.0], [shape[1] - 1, shape[0] - 1]]])
    assert np.array_equal(ours.coords(points, shape), theirs.apply_coords(points, shape))


def test_loading_sam_imports_neither_torchvision_nor_dynamo(tiny_sam_checkpoint) -> None:
    code = (
        "import sys; from mamcli.model.api import MattingAnything; "
        "from mamcli.model.sam import load_sam; "
        f"load_sam({str(tiny_sam_checkpoint)!r}); "
        "print(sorted(m for m in ('torchvision', 'torch._dynamo') if m in sys.modules)); "
        "import segment_anything; from mamcli.model.sam import Sam; "
        "print(segment_anything.SamPredictor is not None, segment_anything.modeling.Sam is Sam)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True True"]


@pytest.mark.parametrize("zipped", [True, False])
def test_load_sam_equals_the_saved_model(tmp_path, zipped: bool) -> None:
    model = make_tiny_sam(seed=3)
    path = tmp_path / "sam.pth"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=zipped)
    loaded = load_sam(path)
    expected = model.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    for key, tensor in loaded.state_dict().items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, expected[key]), key
    assert torch.equal(loaded.pixel_mean, model.pixel_mean)
    assert torch.equal(loaded.pixel_std, model.pixel_std)


def test_encoder_is_made_on_first_encode(tiny_sam_checkpoint, m2m_checkpoint) -> None:
    mam = MattingAnything.from_checkpoints(tiny_sam_checkpoint, m2m_checkpoint, precision="bf16")
    encoder = mam.sam.sam.image_encoder
    assert mam.sam._encoder is None and encoder.pos_embed.dtype == torch.float32
    mam.set_image(synthetic_photo())
    assert mam.sam._encoder is not None and encoder.pos_embed.dtype == torch.bfloat16


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_auto_prompts_run_at_the_engines_precision(
    tiny_sam_checkpoint, m2m_checkpoint, precision: str
) -> None:
    """The automatic mask generator encodes with the engine's encoder (a bf16 encoder fed
    fp32 input used to fail every `--auto` image on CPUs where auto picks bf16)."""
    mam = MattingAnything.from_checkpoints(tiny_sam_checkpoint, m2m_checkpoint, precision=precision)
    mam.set_image(synthetic_photo())  # the encoder is made (cast) before the generator runs
    prompter = AutoPrompter("all", mam.sam.tool_sam(), max_instances=3, points_per_side=4)
    instances = prompter.instances(synthetic_photo())
    assert isinstance(instances, list) and len(instances) <= 3
