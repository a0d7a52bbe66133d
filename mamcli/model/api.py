"""The Matting Anything model as a Python API: SAM stage + M2M + refinement.

mam = MattingAnything.from_checkpoints(sam="sam_vit_b_01ec64.pth", m2m="mam_vitb.pth")
mam.set_image(rgb)                       # H x W x 3 uint8, encoded once
mattes = mam.predict(boxes=[[x0, y0, x1, y1]])
mattes[0].alpha                          # float32 H x W in [0, 1]
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mamcli.errors import MamError
from mamcli.hub.checkpoint import check_state_dict, load_state_dict
from mamcli.model.attention import set_attention_kernel
from mamcli.model.config import (  # noqa: F401  (InferenceOptions re-exported)
    REFERENCE_OPTIONS,
    InferenceOptions,
    RefineConfig,
)
from mamcli.model.devices import LOW_PRECISION_DTYPES, resolve_device, resolve_precision
from mamcli.model.embedding_cache import EmbeddingCache, EmbeddingKey, image_hash
from mamcli.model.fold import fold_for_inference
from mamcli.model.m2m import M2M, M2MOutput
from mamcli.model.quantize import quantize_linears
from mamcli.model.refine import refine
from mamcli.model.sam import PreparedImage, SamStage, load_sam
from mamcli.model.window import m2m_window, run_in_window
from mamcli.results import Instance, InstanceMatte

EMPTY_MASK_WARNING = "SAM found no mask for this prompt; the alpha is all zero"


def load_m2m(path: str | Path) -> M2M:
    """Load an M2M checkpoint (released layout, `module.` prefix or not) strictly, in eval mode."""
    state = load_state_dict(path, what="M2M checkpoint")
    model = M2M()
    check_state_dict(path, state, {k: v.shape for k, v in model.state_dict().items()})
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


@dataclass
class EncodedImage:
    """An image after the SAM encoder: what every prompt of that image reuses."""

    prepared: PreparedImage
    model_input: torch.Tensor  # 1 x 3 x S x S, normalised and padded
    embedding: torch.Tensor  # 1 x C x s x s
    from_cache: bool = False  # the embedding was read from an EmbeddingCache


def _group_by_prompt_shape(instances: Sequence[Instance]) -> dict[tuple[bool, int], list[int]]:
    """Prompts decode together when they have the same kind: (has box, number of points)."""
    groups: dict[tuple[bool, int], list[int]] = {}
    for index, instance in enumerate(instances):
        if instance.box is None and not instance.points:
            raise MamError(f"instance {instance.id or index} has neither a box nor points")
        groups.setdefault((instance.box is not None, len(instance.points)), []).append(index)
    return groups


class MattingAnything:
    """Matting Anything: frozen SAM + Mask-to-Matte refiner + iterative refinement.

    m2m may be None for segmentation only (`matte(..., use_m2m=False)`).
    """

    def __init__(
        self,
        sam: torch.nn.Module,
        m2m: M2M | None,
        device: str | torch.device = "cpu",
        precision: str = "fp32",
        refine_config: RefineConfig | None = None,
        max_prompt_batch: int = 8,
        options: InferenceOptions | None = None,
    ) -> None:
        self.device = resolve_device(str(device))
        self.precision = resolve_precision(precision, self.device)
        self.options = options or InferenceOptions()
        sam = sam.to(self.device).eval()
        set_attention_kernel(sam.image_encoder, self.options.attention)
        encoder_dtype = LOW_PRECISION_DTYPES.get(self.precision, torch.float32)
        self.sam = SamStage(sam, partial(self._inference_encoder, sam.image_encoder), encoder_dtype)
        self.m2m = None if m2m is None else self._inference_m2m(m2m)
        self.refine_config = refine_config or RefineConfig()
        self.max_prompt_batch = max_prompt_batch
        self._image: EncodedImage | None = None

    def _inference_encoder(self, encoder: torch.nn.Module) -> torch.nn.Module:
        """The encoder at the precision (cast in place to bf16 or fp16, or an int8 copy),
        compiled if asked for."""
        if self.precision == "int8":
            encoder = quantize_linears(encoder)
        else:
            encoder = encoder.to(LOW_PRECISION_DTYPES.get(self.precision, torch.float32))
        return torch.compile(encoder) if self.options.compile else encoder

    def _inference_m2m(self, m2m: M2M) -> torch.nn.Module:
        """M2M on the device, eval mode, at the precision's dtype, folded / NHWC / compiled
        as the options say. The dtype is set on a copy (the caller's M2M may be training)."""
        model = m2m.to(self.device).eval()
        if self.options.fold_m2m:
            model = fold_for_inference(model, fuse=self.options.fuse_m2m)
        elif self.m2m_dtype != torch.float32:
            model = copy.deepcopy(model)
        model = model.to(self.m2m_dtype)
        if model is not m2m:  # an inference copy: the caller's M2M keeps its settings
            model.os1_band_rows = self.options.m2m_band_rows_for(self.device)
        if self.options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.options.compile else model

    @property
    def m2m_dtype(self) -> torch.dtype:
        """What M2M computes in: the precision's dtype (int8 covers the encoder only)."""
        return LOW_PRECISION_DTYPES.get(self.precision, torch.float32)

    def run_m2m(
        self, embedding: torch.Tensor, model_input: torch.Tensor, guide: torch.Tensor
    ) -> M2MOutput:
        """M2M on inputs cast to its dtype (and NHWC if asked): B x C x s x s embeddings,
        B x 3 x S x S normalised images, B x 1 x 4s x 4s guide masks."""
        inputs = [t.to(self.m2m_dtype) for t in (embedding, model_input, guide)]
        if self.options.channels_last:
            inputs = [t.contiguous(memory_format=torch.channels_last) for t in inputs]
        return self.m2m(*inputs)

    @classmethod
    def from_checkpoints(
        cls,
        sam: str | Path,
        m2m: str | Path,
        model: str = "vit_b",
        device: str = "cpu",
        precision: str = "fp32",
        **kwargs,
    ) -> MattingAnything:
        """Build from a SAM checkpoint and an M2M checkpoint (both loaded weights-only)."""
        return cls(load_sam(sam, model), load_m2m(m2m), device, precision, **kwargs)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The low-precision dtype, for code that runs the networks under autocast (training)."""
        return LOW_PRECISION_DTYPES.get(self.precision)

    def embedding_key(self, image: PreparedImage, checkpoint: str) -> EmbeddingKey:
        """The cache key of `image` under the SAM weights named by `checkpoint`."""
        return EmbeddingKey(
            image=image_hash(image.resized.numpy()),
            checkpoint=checkpoint,
            precision=self.precision,
            input_size=self.sam.img_size,
        )

    @torch.inference_mode()
    def encode(
        self,
        images: Sequence[PreparedImage],
        cache: EmbeddingCache | None = None,
        keys: Sequence[EmbeddingKey] | None = None,
    ) -> list[EncodedImage]:
        """Run the SAM encoder once on a batch of prepared images.

        With a cache (and one key per image, see `embedding_key`) stored embeddings are
        reused and the encoder runs only on the others, whose embeddings are then stored.
        """
        images = list(images)
        if cache is not None and (keys is None or len(keys) != len(images)):
            raise MamError("encode(cache=...) needs one key per image")
        model_input = self.sam.model_input(images)
        shape = (1, *self.sam.embedding_shape)
        found = [cache.load(key, shape) for key in keys] if cache and keys else [None] * len(images)
        found = [None if embedding is None else embedding.float() for embedding in found]
        missing = [i for i, embedding in enumerate(found) if embedding is None]
        fresh = self.sam.encode(model_input[missing]) if missing else None
        for row, index in enumerate(missing):
            found[index] = fresh[row : row + 1]
            if cache and keys:
                # at the encoder's dtype: bf16/fp16 outputs round-trip exactly, at half the size
                cache.store(keys[index], found[index].to(self.sam.encoder_dtype))
        return [
            EncodedImage(image, model_input[i : i + 1], embedding.to(self.device), i not in missing)
            for i, (image, embedding) in enumerate(zip(images, found, strict=True))
        ]

    def set_image(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 image (H x W x 3); following `predict` calls reuse it."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise MamError(f"expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        self._image = self.encode([self.sam.prepare(rgb)])[0]

    def predict(
        self,
        boxes: Sequence[Sequence[float]] | np.ndarray | None = None,
        points: Sequence[Sequence[Sequence[float]]] | np.ndarray | None = None,
        point_labels: Sequence[Sequence[int]] | np.ndarray | None = None,
        mode: str | None = None,
        return_scales: bool = False,
    ) -> list[InstanceMatte]:
        """Matte each prompt of the current image: boxes N x 4 and/or points N x K x 2."""
        if self._image is None:
            raise MamError("call set_image() before predict()")
        count = len(boxes) if boxes is not None else len(points) if points is not None else 0
        instances = []
        for i in range(count):
            pts = [] if points is None else [tuple(map(float, p)) for p in points[i]]
            labels = [1] * len(pts) if point_labels is None else [int(v) for v in point_labels[i]]
            box = None if boxes is None else tuple(map(float, boxes[i]))
            instances.append(Instance(id=str(i), box=box, points=pts, point_labels=labels))
        config = self.refine_config if mode is None else replace(self.refine_config, mode=mode)
        return self.matte(self._image, instances, config, return_scales)

    @torch.inference_mode()
    def matte(
        self,
        image: EncodedImage,
        instances: Sequence[Instance],
        config: RefineConfig | None = None,
        return_scales: bool = False,
        use_m2m: bool = True,
    ) -> list[InstanceMatte]:
        """Decode all prompts of an encoded image in batches, run M2M and refine each.

        With use_m2m=False the alpha is SAM's binary mask (the paper's "SAM" baseline).
        """
        config = config or self.refine_config
        if use_m2m and self.m2m is None:
            raise MamError("this model was built without M2M weights; it can only segment")
        results: list[InstanceMatte | None] = [None] * len(instances)
        for indices in _group_by_prompt_shape(instances).values():
            for start in range(0, len(indices), self.max_prompt_batch):
                chunk = indices[start : start + self.max_prompt_batch]
                group = [instances[i] for i in chunk]
                mattes = (
                    self._matte_group(image, group, config, return_scales)
                    if use_m2m
                    else self._mask_group(image, group)
                )
                for index, matte in zip(chunk, mattes, strict=True):
                    results[index] = matte
        return [r for r in results if r is not None]

    def _prompt_tensors(
        self, image: EncodedImage, instances: Sequence[Instance]
    ) -> dict[str, torch.Tensor | None]:
        size = image.prepared.original_size
        boxes = points = labels = None
        if instances[0].box is not None:
            boxes = self.sam.transform_boxes(np.array([i.box for i in instances], float), size)
        if instances[0].points:
            coords = np.array([i.points for i in instances], dtype=float)
            points = self.sam.transform_points(coords, size)
            labels = torch.as_tensor(
                [i.point_labels for i in instances], dtype=torch.int, device=self.device
            )
        return {"boxes": boxes, "points": points, "labels": labels}

    def _segment(
        self, image: EncodedImage, instances: Sequence[Instance]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """SAM for a group: guide masks (N x 1 x m x m), post masks (N x H x W), IoU scores."""
        decoded = self.sam.decode(image.embedding, **self._prompt_tensors(image, instances))
        guide = (decoded.low_res_logits > 0).float()
        post_mask = self.sam.upscale_masks(decoded.low_res_logits, image.prepared)[:, 0] > 0
        return guide, post_mask, decoded.iou

    def _mask_group(
        self, image: EncodedImage, instances: Sequence[Instance]
    ) -> list[InstanceMatte]:
        _, post_mask, iou = self._segment(image, instances)
        return _results(instances, post_mask.float(), post_mask, iou, None)

    def _matte_group(
        self,
        image: EncodedImage,
        instances: Sequence[Instance],
        config: RefineConfig,
        return_scales: bool,
    ) -> list[InstanceMatte]:
        guide, post_mask, iou = self._segment(image, instances)
        step = self.options.m2m_batch_for(self.device)
        crop = self.options.crop_m2m and not return_scales  # scales are returned whole
        parts = [
            self._m2m_scales(image, guide[i : i + step], post_mask[i : i + step], config, crop)
            for i in range(0, len(guide), step)
        ]
        scales = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
        alpha = refine(scales["os1"], scales["os4"], scales["os8"], post_mask, config)
        return _results(instances, alpha, post_mask, iou, scales if return_scales else None)

    def _m2m_scales(
        self,
        image: EncodedImage,
        guide: torch.Tensor,
        post_mask: torch.Tensor,
        config: RefineConfig,
        crop: bool,
    ) -> dict[str, torch.Tensor]:
        """M2M on a batch of guide masks; its three alphas at the original size (N x H x W).

        With `crop`, M2M runs on the window refinement can read (zero elsewhere), or not
        at all when every mask is empty."""
        count = len(guide)
        inputs = (
            image.embedding.expand(count, -1, -1, -1),
            image.model_input.expand(count, -1, -1, -1),
            guide,
        )
        h, w = image.prepared.input_size
        size = self.sam.img_size
        window = m2m_window(post_mask, (h, w), size, config) if crop else None
        if crop and window is None:
            zeros = post_mask.new_zeros(post_mask.shape, dtype=torch.float32)
            return {name: zeros for name in ("os1", "os4", "os8")}
        out = run_in_window(self.run_m2m, window, *inputs) if window else self.run_m2m(*inputs)
        return {
            name: F.interpolate(
                alpha[..., :h, :w].float(),
                image.prepared.original_size,
                mode="bilinear",
                align_corners=False,
            )[:, 0]
            for name, alpha in (
                ("os1", out.alpha_os1),
                ("os4", out.alpha_os4),
                ("os8", out.alpha_os8),
            )
        }


def _results(
    instances: Sequence[Instance],
    alpha: torch.Tensor,
    post_mask: torch.Tensor,
    iou: torch.Tensor,
    scales: dict[str, torch.Tensor] | None,
) -> list[InstanceMatte]:
    """Per-instance numpy results; an empty SAM mask is flagged (its alpha is all zero)."""
    alpha_np = alpha.clamp(0, 1).cpu().numpy()
    mask_np = post_mask.cpu().numpy()
    iou_np = iou.cpu().numpy()
    scales_np = {k: v.cpu().numpy() for k, v in scales.items()} if scales else None
    results = []
    for n, instance in enumerate(instances):
        warning = None if mask_np[n].any() else EMPTY_MASK_WARNING
        if warning:
            warnings.warn(f"instance {instance.id}: {warning}", stacklevel=3)
        results.append(
            InstanceMatte(
                alpha=alpha_np[n],
                mask=mask_np[n],
                score=float(iou_np[n]),
                scales={k: v[n] for k, v in scales_np.items()} if scales_np else None,
                warning=warning,
            )
        )
    return results
