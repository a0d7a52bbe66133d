"""Text prompts: a Grounding DINO detector turns "the dog on the left" into boxes for SAM.

The paper's third prompt type (docs/model.md, "Benchmark protocol"): a grounding
detector scores boxes against the text, boxes go through NMS, and the best one (or the
best few, for instance matting) becomes an ordinary box prompt. The detector comes from
`transformers` (the optional extra `mam[text]`) and is loaded from a local snapshot
folder only: nothing here downloads. The folder is what `save_pretrained` writes (model
+ processor), for example the Hugging Face repo IDEA-Research/grounding-dino-tiny
fetched with `hf download`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mamcli.errors import InputError, MamError
from mamcli.hub.weights import cache_dir
from mamcli.prompts.config import TextDetectorConfig
from mamcli.results import Instance

if TYPE_CHECKING:
    from transformers import GroundingDinoForObjectDetection, GroundingDinoProcessor

DETECTOR_NAME = "grounding-dino-tiny"
DETECTOR_REPO = "IDEA-Research/grounding-dino-tiny"
MISSING_EXTRA = "text prompts need the optional extra: pip install 'mam[text]'"


@dataclass(frozen=True)
class Detection:
    """One detected box [x0, y0, x1, y1] in original image pixels, its score and label."""

    box: tuple[float, float, float, float]
    score: float
    label: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the run manifest."""
        return {**asdict(self), "box": list(self.box)}


def select_detections(
    boxes: torch.Tensor | np.ndarray | Sequence[Sequence[float]],
    scores: torch.Tensor | np.ndarray | Sequence[float],
    labels: Sequence[str],
    config: TextDetectorConfig,
    image_size: tuple[int, int] | None = None,
) -> list[Detection]:
    """Threshold, clip to the image (height, width), drop empty boxes, NMS, best first, truncate."""
    from torchvision.ops import clip_boxes_to_image, nms  # lazily: torchvision takes 1.2 s

    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    scores = torch.as_tensor(scores, dtype=torch.float32).reshape(-1)
    if image_size is not None:
        boxes = clip_boxes_to_image(boxes, image_size)
    valid = (scores > config.box_threshold) & (boxes[:, 2] > boxes[:, 0])
    valid &= boxes[:, 3] > boxes[:, 1]
    candidates = valid.nonzero()[:, 0]
    kept = candidates[nms(boxes[candidates], scores[candidates], config.nms_iou)]
    return [
        Detection(
            box=tuple(float(v) for v in boxes[i].tolist()),
            score=float(scores[i]),
            label=labels[i],
        )
        for i in kept[: config.max_instances].tolist()
    ]


def detector_cache_dir() -> Path:
    """Where the default detector snapshot lives: <mam cache>/detectors/grounding-dino-tiny."""
    return cache_dir() / "detectors" / DETECTOR_NAME


def resolve_detector(path: str | os.PathLike | None = None) -> Path:
    """The detector folder to load: `path` when given, else the cached snapshot. Never downloads."""
    if path is not None:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise InputError(
                folder,
                "not a detector folder (no config.json); expected a save_pretrained snapshot",
            )
        return folder
    cached = detector_cache_dir()
    if (cached / "config.json").is_file():
        return cached
    raise MamError(
        f"no text detector found at {cached}; fetch it with: hf download {DETECTOR_REPO} "
        f'--exclude "*.bin" --local-dir {cached} (or pass --detector PATH, or set MAM_HOME)'
    )


def _import_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise MamError(MISSING_EXTRA) from exc
    return transformers


@contextlib.contextmanager
def _quiet_loading(transformers: Any) -> Iterator[None]:
    """Hide transformers' per-load progress bar; the CLI draws its own progress."""
    hf_logging = transformers.utils.logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _query(text: str) -> str:
    """Grounding DINO expects lower-case phrases ending with a period."""
    query = " ".join(text.lower().split())
    if not query.strip("."):
        raise MamError("the text prompt is empty")
    return query if query.endswith(".") else query + "."


class TextDetector:
    """Grounding DINO from `transformers`: text + image -> scored boxes in original pixels."""

    def __init__(
        self,
        model: GroundingDinoForObjectDetection,
        processor: GroundingDinoProcessor,
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.processor = processor

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu"
    ) -> TextDetector:
        """Load a local snapshot folder (see `resolve_detector`); safetensors weights only."""
        transformers = _import_transformers()
        folder = resolve_detector(path)
        try:
            with _quiet_loading(transformers):
                model = transformers.GroundingDinoForObjectDetection.from_pretrained(
                    folder, local_files_only=True, use_safetensors=True
                )
                processor = transformers.GroundingDinoProcessor.from_pretrained(
                    folder, local_files_only=True
                )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputError(folder, f"cannot load the Grounding DINO detector: {reason}") from None
        return cls(model, processor, device)

    @torch.inference_mode()
    def detect(
        self, rgb: np.ndarray, text: str, config: TextDetectorConfig | None = None
    ) -> list[Detection]:
        """Boxes for `text` in an H x W x 3 uint8 RGB image, best first, after NMS."""
        config = config or TextDetectorConfig()
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise MamError(f"expected an H x W x 3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        inputs = self.processor(images=rgb, text=_query(text), return_tensors="pt")
        tokens, limit = inputs["input_ids"].shape[1], self.model.config.max_text_len
        if tokens > limit:
            raise MamError(
                f"the text prompt is too long: {tokens} tokens, the detector reads {limit}"
            )
        outputs = self.model(**inputs.to(self.device))
        size = (rgb.shape[0], rgb.shape[1])
        result = self.processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=config.box_threshold,
            text_threshold=config.text_threshold,
            target_sizes=[size],
        )[0]
        specials = set(self.processor.tokenizer.all_special_tokens)
        labels = [
            " ".join(w for w in label.split() if w not in specials).strip(" .")
            for label in result["text_labels"]
        ]
        return select_detections(
            result["boxes"].cpu(), result["scores"].cpu(), labels, config, size
        )


@dataclass
class Grounded:
    """Instances after text grounding, plus what the manifest records about it.

    instances: every text-only instance replaced by one box instance per kept detection
    (the first keeps its id, the others get `<id>_1`, `<id>_2`, ...); detections: per text
    instance, its id, text and kept detections; warnings: texts that found no box.
    """

    instances: list[Instance]
    detections: list[dict[str, Any]]
    warnings: list[str]


def ground_instances(
    detector: TextDetector,
    rgb: np.ndarray,
    instances: Sequence[Instance],
    config: TextDetectorConfig | None = None,
) -> Grounded:
    """Turn each instance that has text but no box into box prompts; others pass unchanged.

    Points given with the text stay with every box found for it. A text that finds no box
    above the threshold is dropped with a warning rather than matted as empty.
    """
    config = config or TextDetectorConfig()
    used = {instance.id for instance in instances}
    grounded = Grounded([], [], [])
    for instance in instances:
        if instance.text is None or instance.box is not None:
            grounded.instances.append(instance)
            continue
        found = detector.detect(rgb, instance.text, config)
        grounded.detections.append(
            {"id": instance.id, "text": instance.text, "detections": [d.to_dict() for d in found]}
        )
        if not found:
            grounded.warnings.append(
                f"instance {instance.id}: no box for {instance.text!r} scored above "
                f"box_threshold {config.box_threshold}; skipped"
            )
        for k, detection in enumerate(found):
            instance_id = instance.id
            if k > 0 and instance.id is not None:
                instance_id = _unused_id(f"{instance.id}_{k}", used)
                used.add(instance_id)
            grounded.instances.append(
                replace(
                    instance,
                    id=instance_id,
                    box=detection.box,
                    points=list(instance.points),
                    point_labels=list(instance.point_labels),
                )
            )
    return grounded


def _unused_id(candidate: str, used: set[str | None]) -> str:
    while candidate in used:
        candidate += "_"
    return candidate
