"""The reference flow, the benchmarks' comparison point and their one re-implementation:
what plain segment-anything + M2M does per prompt.

For every prompt: read and decode the image, resize, encode it with segment-anything's own
attention, decode one prompt, run the unfolded M2M on it (fp32), refine with numpy/cv2
round trips on the CPU and write the PNG synchronously. Alphas go where `mam matte`
writes them, so the two output folders compare file by file.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from common import Models, SyntheticImage, alpha_path

STAGES = ("decode", "resize", "encoder", "prompt", "m2m", "refine", "write")


class StageTimer:
    """Seconds and call counts per stage."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.calls = dict.fromkeys(STAGES, 0)
        self._sync = sync
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self._sync()
        with self._lock:
            self.seconds[stage] += time.perf_counter() - start
            self.calls[stage] += 1


def run_reference(models: Models, images: list[SyntheticImage], out: Path) -> dict[str, object]:
    """The reference flow over `images` into `out`; wall seconds and per-stage seconds."""
    import copy

    import torch
    import torch.nn.functional as F

    from mamcli.imaging.read import load_rgb
    from mamcli.imaging.write import alpha_to_uint, write_image
    from mamcli.model.attention import set_attention_kernel
    from mamcli.model.config import RefineConfig
    from mamcli.model.refine import refine
    from mamcli.model.sam import SamStage

    sam = copy.deepcopy(models.sam)
    set_attention_kernel(sam.image_encoder, "reference")
    stage, m2m, config = SamStage(sam), models.m2m, RefineConfig()
    timer = StageTimer(torch.cuda.synchronize if models.device.type == "cuda" else lambda: None)
    start = time.perf_counter()
    with torch.inference_mode():
        for image in images:
            for k, box in enumerate(image.boxes):
                with timer("decode"):
                    rgb = load_rgb(image.path).rgb
                with timer("resize"):
                    prepared = stage.prepare(rgb)
                with timer("encoder"):
                    model_input = stage.model_input([prepared])
                    embedding = stage.encode(model_input)
                with timer("prompt"):
                    boxes = stage.transform_boxes(np.array([box], float), prepared.original_size)
                    decoded = stage.decode(embedding, boxes=boxes)
                    guide = (decoded.low_res_logits > 0).float()
                    post_mask = stage.upscale_masks(decoded.low_res_logits, prepared)[:, 0] > 0
                with timer("m2m"):
                    output = m2m(embedding, model_input, guide)
                with timer("refine"):
                    h, w = prepared.input_size
                    scales = [
                        torch.from_numpy(
                            F.interpolate(
                                alpha[..., :h, :w],
                                prepared.original_size,
                                mode="bilinear",
                                align_corners=False,
                            )[:, 0]
                            .cpu()
                            .numpy()
                        )
                        for alpha in (output.alpha_os1, output.alpha_os4, output.alpha_os8)
                    ]
                    mask = torch.from_numpy(post_mask.cpu().numpy())
                    alpha = refine(*scales, mask, config, backend="cv2").clamp(0, 1).numpy()[0]
                with timer("write"):
                    path = alpha_path(out, image.path.stem, k, len(image.boxes))
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_image(path, alpha_to_uint(alpha))
    return {
        "wall_s": time.perf_counter() - start,
        "stages_s": dict(timer.seconds),
        "stage_calls": dict(timer.calls),
    }
