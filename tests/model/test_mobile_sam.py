"""MobileSAM (`vit_t`, the optional `mam[mobile]` extra) loads from a checkpoint file and mattes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mobile_sam import sam_model_registry

from mamcli.errors import InputError
from mamcli.model.api import MattingAnything
from mamcli.model.m2m import converge_spectral_norms
from mamcli.model.sam import load_sam
from tests.helpers import make_random_m2m, synthetic_photo


@pytest.fixture(scope="module")
def mobile_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "mobile_sam.pt"
    torch.save(sam_model_registry["vit_t"]().state_dict(), path)
    return path


def test_vit_t_checkpoint_loads_strictly_and_mattes(mobile_checkpoint: Path) -> None:
    sam = load_sam(mobile_checkpoint, "vit_t")
    assert type(sam.image_encoder).__name__ == "TinyViT"
    saved = torch.load(mobile_checkpoint, weights_only=True)
    for key, value in sam.state_dict().items():
        assert torch.equal(value, saved[key]), key
    model = MattingAnything(sam, converge_spectral_norms(make_random_m2m()))
    model.set_image(synthetic_photo(150, 200))
    (matte,) = model.predict(boxes=[[30, 20, 170, 130]])
    assert matte.alpha.shape == (150, 200)
    assert matte.alpha.min() >= 0.0 and matte.alpha.max() <= 1.0


def test_vit_b_checkpoint_is_not_a_vit_t(tiny_sam_checkpoint: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        load_sam(tiny_sam_checkpoint, "vit_t")
    assert str(tiny_sam_checkpoint) in str(excinfo.value)
    assert "\n" not in str(excinfo.value)
