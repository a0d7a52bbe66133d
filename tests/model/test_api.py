"""End to end through the Python API with small random SAM and M2M checkpoint files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mamcli.errors import InputError, MamError
from mamcli.model.api import MattingAnything
from mamcli.model.sam import SamStage, load_sam
from tests.helpers import synthetic_photo


@pytest.fixture(scope="module")
def mam(tiny_sam_checkpoint, m2m_checkpoint) -> MattingAnything:
    model = MattingAnything.from_checkpoints(
        sam=tiny_sam_checkpoint, m2m=m2m_checkpoint, model="vit_b", device="cpu"
    )
    model.set_image(synthetic_photo())
    return model


def test_sam_shape_comes_from_the_checkpoint(tiny_sam_checkpoint) -> None:
    stage = SamStage(load_sam(tiny_sam_checkpoint, "vit_b"))
    assert stage.img_size == 256
    prepared = stage.prepare(synthetic_photo(180, 240))
    assert prepared.input_size == (192, 256) and prepared.original_size == (180, 240)
    assert stage.model_input([prepared]).shape == (1, 3, 256, 256)


def test_predict_boxes_points_and_both(mam: MattingAnything) -> None:
    results = mam.predict(boxes=[[60, 40, 180, 140], [5, 5, 60, 50]], return_scales=True)
    assert len(results) == 2
    for result in results:
        assert result.alpha.shape == (180, 240) and result.alpha.dtype == np.float32
        assert result.alpha.min() >= 0.0 and result.alpha.max() <= 1.0
        assert result.mask.shape == (180, 240) and result.mask.dtype == bool
        assert set(result.scales) == {"os1", "os4", "os8"}
    points = mam.predict(points=[[[120, 90], [10, 10]]], point_labels=[[1, 0]])
    both = mam.predict(boxes=[[60, 40, 180, 140]], points=[[[120, 90]]], point_labels=[[1]])
    assert points[0].alpha.shape == both[0].alpha.shape == (180, 240)
    assert not np.array_equal(points[0].alpha, both[0].alpha)


def test_batched_prompts_equal_one_at_a_time(mam: MattingAnything) -> None:
    boxes = [[60, 40, 180, 140], [5, 5, 60, 50], [100, 20, 230, 170]]
    together = mam.predict(boxes=boxes, mode="maskguide")
    for box, batched in zip(boxes, together, strict=True):
        alone = mam.predict(boxes=[box], mode="maskguide")[0]
        assert np.abs(alone.alpha - batched.alpha).max() < 1e-4
        assert np.array_equal(alone.mask, batched.mask)


def test_refinement_modes_differ(mam: MattingAnything) -> None:
    post = mam.predict(boxes=[[60, 40, 180, 140]], mode="postprocess", return_scales=True)[0]
    guide = mam.predict(boxes=[[60, 40, 180, 140]], mode="maskguide")[0]
    assert not np.array_equal(post.alpha, guide.alpha)
    # maskguide keeps SAM's mask except near its outer boundary
    inside = guide.mask & (guide.alpha < 1)
    assert inside.sum() <= np.count_nonzero(guide.mask)


def test_empty_sam_mask_gives_zero_alpha_and_warning(mam: MattingAnything) -> None:
    # Zero hypernetwork outputs make every mask logit 0, so SAM's mask is empty.
    decoder = mam.sam.sam.mask_decoder
    saved = {k: v.clone() for k, v in decoder.state_dict().items()}
    with torch.no_grad():
        for mlp in decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight.zero_()
            mlp.layers[-1].bias.zero_()
    try:
        with pytest.warns(UserWarning, match="no mask"):
            result = mam.predict(boxes=[[60, 40, 180, 140]])[0]
    finally:
        decoder.load_state_dict(saved)
    assert result.warning is not None
    assert float(result.alpha.max()) == 0.0
    assert not result.mask.any()


def test_bad_inputs(tiny_sam_checkpoint, m2m_checkpoint, tmp_path) -> None:
    with pytest.raises(InputError, match="sam_tiny.pth: state dict does not fit"):
        MattingAnything.from_checkpoints(sam=tiny_sam_checkpoint, m2m=tiny_sam_checkpoint)
    not_a_checkpoint = tmp_path / "x.pth"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(InputError, match="x.pth"):
        load_sam(not_a_checkpoint)
    model = MattingAnything.from_checkpoints(sam=tiny_sam_checkpoint, m2m=m2m_checkpoint)
    with pytest.raises(MamError, match="set_image"):
        model.predict(boxes=[[0, 0, 5, 5]])
    with pytest.raises(MamError, match="uint8"):
        model.set_image(np.zeros((10, 10), np.float32))
