"""The two trimap builders of imaging.trimap on small known alphas."""

from __future__ import annotations

import numpy as np

from mamcli.imaging.trimap import UNKNOWN, erosion_trimap, generate_trimap, unknown_region


def test_erosion_trimap_shrinks_the_definite_regions():
    alpha = np.zeros((9, 9), np.float32)
    alpha[:, 4:] = 1.0  # a vertical edge between columns 3 and 4
    trimap = erosion_trimap(alpha, 3)
    assert trimap[4].tolist() == [0, 0, 0, UNKNOWN, UNKNOWN, 255, 255, 255, 255]
    assert erosion_trimap(alpha, 1)[4].tolist() == [0] * 4 + [255] * 5  # width 1: no band
    soft = alpha.copy()
    soft[:, 4] = 0.5
    assert erosion_trimap(soft, 1)[4, 4] == UNKNOWN


def test_generate_trimap_grows_a_band_outside_the_object():
    gt = np.zeros((1, 9), np.uint8)
    gt[0, 4:] = 255
    gt[0, 4] = 100
    trimap = generate_trimap(gt, band=2)
    assert trimap.tolist() == [[0, 0, UNKNOWN, UNKNOWN, UNKNOWN, 255, 255, 255, 255]]
    assert unknown_region(trimap).sum() == 3
