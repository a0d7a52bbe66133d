"""Session fixtures: tiny random-weight SAM and M2M models saved as real checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import make_random_m2m, make_tiny_sam


@pytest.fixture(scope="session")
def tiny_sam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "sam_tiny.pth"
    torch.save(make_tiny_sam().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def m2m_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "m2m.pth"
    torch.save({"state_dict": make_random_m2m().state_dict()}, path)
    return path
