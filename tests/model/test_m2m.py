"""M2M: exact checkpoint layout, strict loading, spectral normalisation, forward shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mamcli.errors import InputError
from mamcli.model.api import load_m2m
from mamcli.model.m2m import M2M, SpectralNorm, converge_spectral_norms, trainable_parameters

LAYOUT = Path(__file__).parents[1] / "data" / "m2m_state_dict.tsv"


def _released_layout() -> dict[str, tuple[tuple[int, ...], bool]]:
    layout = {}
    for line in LAYOUT.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, trainable = line.split("\t")
        dims = () if shape == "scalar" else tuple(int(d) for d in shape.split("x"))
        layout[key] = (dims, trainable == "yes")
    return layout


def test_state_dict_has_the_released_keys_and_shapes() -> None:
    layout = _released_layout()
    model = M2M()
    state = model.state_dict()
    assert len(layout) == 184
    assert set(state) == set(layout)
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: v[0] for k, v in layout.items()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {k for k, (_, t) in layout.items() if t}
    assert trainable_parameters(model) == 2_714_619


def _random_released_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(3)
    state = {}
    for key, (shape, _) in _released_layout().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape) + 0.5
        else:
            state[key] = torch.randn(shape)
    return state


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loads_released_checkpoint_strictly(tmp_path: Path, prefix: str) -> None:
    state = _random_released_state()
    path = tmp_path / "mam_vitb.pth"
    torch.save({"state_dict": {prefix + k: v for k, v in state.items()}, "iter": 1}, path)
    model = load_m2m(path)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert not model.training


def test_wrong_checkpoint_gives_one_readable_line(tmp_path: Path) -> None:
    state = _random_released_state()
    state["refine_OS1.3.weight"] = torch.zeros(1, 16, 3, 3)
    del state["bn1.bias"]
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(InputError) as info:
        load_m2m(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "bn1.bias" in message and "refine_OS1.3.weight" in message


def test_spectral_norm_uses_stored_vectors_in_eval_and_iterates_in_train() -> None:
    torch.manual_seed(0)
    layer = SpectralNorm(torch.nn.Conv2d(4, 6, 3, bias=False)).eval()
    u0 = layer.module.weight_u.clone()
    v0 = layer.module.weight_v.clone()
    x = torch.randn(2, 4, 8, 8)
    w_bar = layer.module.weight_bar.detach()
    sigma = torch.dot(u0, w_bar.view(6, -1) @ v0)
    expected = torch.nn.functional.conv2d(x, w_bar / sigma)
    assert torch.allclose(layer(x), expected, atol=1e-5)
    assert torch.equal(layer.module.weight_u, u0)

    layer.train()
    layer(x)
    v1 = torch.nn.functional.normalize(w_bar.view(6, -1).t() @ u0, dim=0, eps=0)
    u1 = torch.nn.functional.normalize(w_bar.view(6, -1) @ v1, dim=0, eps=0)
    assert torch.allclose(layer.module.weight_v, v1, atol=1e-6)
    assert torch.allclose(layer.module.weight_u, u1, atol=1e-6)


def test_forward_scales_follow_the_input_size() -> None:
    model = M2M().eval()
    with torch.no_grad():
        out = model(
            torch.randn(2, 256, 8, 8), torch.randn(2, 3, 128, 128), torch.ones(2, 1, 32, 32)
        )
    for alpha in (out.alpha_os1, out.alpha_os4, out.alpha_os8):
        assert alpha.shape == (2, 1, 128, 128)
        assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    assert out.mask.shape == (2, 1, 128, 128)


def test_bf16_autocast_forward_runs_and_stays_close_to_fp32() -> None:
    from tests.helpers import make_random_m2m

    model = make_random_m2m()
    args = (torch.randn(1, 256, 4, 4), torch.randn(1, 3, 64, 64), torch.ones(1, 1, 16, 16))
    with torch.no_grad():
        reference = model(*args).alpha_os1
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(*args).alpha_os1
    assert low.shape == reference.shape
    assert float((low.float() - reference).abs().mean()) < 0.05


def test_converged_spectral_norm_divides_by_the_largest_singular_value() -> None:
    model = converge_spectral_norms(M2M().eval(), iterations=200)
    norms = [m for m in model.modules() if isinstance(m, SpectralNorm)]
    assert len(norms) == 20
    for norm in norms:
        w_bar = norm.module.weight_bar
        effective = norm._weight().reshape(w_bar.shape[0], -1)
        top = torch.linalg.matrix_norm(effective, ord=2)
        assert abs(float(top) - 1.0) < 0.05  # random u, v are off by orders of magnitude


def test_guides_are_concatenated_in_the_features_layout() -> None:
    """With NHWC features the concatenation stays NHWC (the 1-channel mask would otherwise
    make torch.cat fall back to NCHW, which every convolution then converts back), and its
    values are the plain concatenation's; NCHW inputs stay NCHW."""
    cl = torch.channels_last
    feat = torch.randn(2, 8, 16, 16)
    img, mask = torch.randn(2, 3, 64, 64), (torch.rand(2, 1, 32, 32) > 0.5).float()
    plain = M2M._with_guides(feat, img, mask)
    nhwc = M2M._with_guides(
        feat.contiguous(memory_format=cl), img.contiguous(memory_format=cl), mask
    )
    assert plain.is_contiguous() and plain.shape == (2, 12, 16, 16)
    assert nhwc.is_contiguous(memory_format=cl) and not nhwc.is_contiguous()
    assert torch.equal(nhwc, plain)
