"""--precision int8: the encoder's linears are quantized and the alphas stay close to fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mamcli.errors import MamError
from mamcli.model.api import MattingAnything
from mamcli.model.devices import resolve_precision
from mamcli.model.quantize import count_quantized, quantize_linears
from mamcli.results import Instance
from tests.helpers import make_tiny_sam, synthetic_photo


def test_quantize_linears_converts_a_copy() -> None:
    encoder = make_tiny_sam().image_encoder
    quantized = quantize_linears(encoder)
    assert count_quantized(quantized) == 4 * len(encoder.blocks)  # qkv, proj, lin1, lin2
    assert count_quantized(encoder) == 0
    x = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        exact, approx = encoder(x), quantized(x)
    assert (approx - exact).abs().max() < 0.05 * exact.abs().max()


def test_int8_alphas_are_close_to_fp32(tiny_sam_checkpoint, m2m_checkpoint) -> None:
    models = {
        p: MattingAnything.from_checkpoints(tiny_sam_checkpoint, m2m_checkpoint, precision=p)
        for p in ("fp32", "int8")
    }
    assert count_quantized(models["int8"].sam.encoder) > 0
    assert count_quantized(models["fp32"].sam.encoder) == 0
    box = [Instance(id="0", box=(60, 40, 180, 140))]
    alphas = {}
    for precision, mam in models.items():
        encoded = mam.encode([mam.sam.prepare(synthetic_photo())])[0]
        alphas[precision] = mam.matte(encoded, box)[0].alpha
    levels = np.abs(alphas["int8"] - alphas["fp32"]) * 255
    assert levels.mean() < 2 and not np.array_equal(alphas["int8"], alphas["fp32"])


def test_int8_is_a_cpu_precision() -> None:
    assert resolve_precision("int8", torch.device("cpu")) == "int8"
    with pytest.raises(MamError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))
