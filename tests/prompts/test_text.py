"""Text prompts: detection selection, detector resolution, and a tiny random Grounding DINO
saved and loaded as real files, run end to end through SAM and M2M."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mamcli.errors import InputError, MamError
from mamcli.prompts.text import (
    MISSING_EXTRA,
    Detection,
    TextDetector,
    TextDetectorConfig,
    detector_cache_dir,
    ground_instances,
    resolve_detector,
    select_detections,
)
from mamcli.results import Instance

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "the", "dog", "on", "left", "cat"]

# Overlap of A and B: 9 x 10 / (10 x 10 + 10 x 10 - 90) = 0.818.
BOXES = [
    [0, 0, 10, 10],  # A
    [1, 0, 11, 10],  # B, overlaps A
    [20, 20, 30, 30],  # C
    [40, 40, 50, 50],  # D, low score
    [5, 5, 5, 9],  # E, zero width
]
SCORES = [0.9, 0.8, 0.5, 0.3, 0.95]
LABELS = ["a", "b", "c", "d", "e"]


def test_select_detections_thresholds_suppresses_sorts_and_truncates() -> None:
    config = TextDetectorConfig(box_threshold=0.35, nms_iou=0.8, max_instances=5)
    picked = select_detections(BOXES, SCORES, LABELS, config)
    assert [d.label for d in picked] == ["a", "c"]
    assert picked[0] == Detection(box=(0.0, 0.0, 10.0, 10.0), score=pytest.approx(0.9), label="a")

    looser_nms = TextDetectorConfig(box_threshold=0.35, nms_iou=0.9, max_instances=5)
    assert [d.label for d in select_detections(BOXES, SCORES, LABELS, looser_nms)] == [
        "a",
        "b",
        "c",
    ]

    no_threshold = TextDetectorConfig(box_threshold=0.0, nms_iou=0.9, max_instances=5)
    assert [d.label for d in select_detections(BOXES, SCORES, LABELS, no_threshold)] == [
        "a",
        "b",
        "c",
        "d",
    ]

    best = select_detections(BOXES, SCORES, LABELS, TextDetectorConfig(box_threshold=0.35))
    assert [d.label for d in best] == ["a"]


def test_select_detections_clips_to_the_image() -> None:
    config = TextDetectorConfig(box_threshold=0.0, max_instances=3)
    boxes = [[-5, -3, 30, 200], [60, 10, 80, 20]]  # the second lies right of a 50 px wide image
    picked = select_detections(boxes, [0.7, 0.9], ["x", "y"], config, image_size=(100, 50))
    assert [d.box for d in picked] == [(0.0, 0.0, 30.0, 100.0)]
    assert select_detections(np.zeros((0, 4)), np.zeros(0), [], config) == []


def test_detection_to_dict_is_json_ready() -> None:
    detection = Detection(box=(1.0, 2.0, 3.0, 4.0), score=0.5, label="dog")
    assert detection.to_dict() == {"box": [1.0, 2.0, 3.0, 4.0], "score": 0.5, "label": "dog"}


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_instances": 0}, "TextDetectorConfig.max_instances"),  # library-only
        ({"box_threshold": 1.5}, "--box-threshold"),
        ({"text_threshold": -0.1}, "--text-threshold"),
        ({"nms_iou": 2.0}, "--nms-iou"),
    ],
)
def test_config_rejects_out_of_range_values(kwargs: dict, named: str) -> None:
    """The error names the flag, or the field where there is no flag."""
    with pytest.raises(MamError, match=f"^{re.escape(named)}: "):
        TextDetectorConfig(**kwargs)


def test_resolve_detector_prefers_explicit_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAM_HOME", str(tmp_path / "home"))
    cached = detector_cache_dir()
    assert cached == tmp_path / "home" / "detectors" / "grounding-dino-tiny"

    with pytest.raises(MamError) as missing:
        resolve_detector()
    message = str(missing.value)
    assert "\n" not in message
    assert (
        f'hf download IDEA-Research/grounding-dino-tiny --exclude "*.bin" --local-dir {cached}'
        in message
    )

    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    assert resolve_detector() == cached

    explicit = tmp_path / "mine"
    with pytest.raises(InputError, match="mine: not a detector folder"):
        resolve_detector(explicit)
    explicit.mkdir()
    (explicit / "config.json").write_text("{}")
    assert resolve_detector(explicit) == explicit


def test_missing_extra_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # what an absent package looks like
    with pytest.raises(MamError) as error:
        TextDetector.from_pretrained(tmp_path)
    assert (
        str(error.value)
        == MISSING_EXTRA
        == "text prompts need the optional extra: pip install 'mam[text]'"
    )


def _save_tiny_detector(folder: Path, vocab: Path) -> None:
    """A random-weight Grounding DINO (tiny Swin + 1-layer BERT) and its processor, saved."""
    transformers = pytest.importorskip("transformers")
    vocab.write_text("\n".join(VOCAB) + "\n")
    processor = transformers.GroundingDinoProcessor(
        image_processor=transformers.GroundingDinoImageProcessor(
            size={"shortest_edge": 64, "longest_edge": 96}
        ),
        tokenizer=transformers.BertTokenizer(str(vocab)),
    )
    config = transformers.GroundingDinoConfig(
        backbone_config=transformers.SwinConfig(
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 1, 1],
            window_size=4,
            out_indices=[3, 4],
        ),
        text_config=transformers.BertConfig(
            vocab_size=len(VOCAB),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        ),
        d_model=32,
        num_feature_levels=2,
        num_queries=20,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=1,
        decoder_n_points=1,
        max_text_len=32,
    )
    torch.manual_seed(0)
    transformers.GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("detector")
    _save_tiny_detector(root / "grounding-dino-tiny", root / "vocab.txt")
    return root / "grounding-dino-tiny"


@pytest.fixture(scope="module")
def detector(detector_dir: Path) -> TextDetector:
    return TextDetector.from_pretrained(detector_dir, device="cpu")


def _image(height: int = 50, width: int = 70) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_detector_loads_from_saved_files_and_finds_boxes_in_the_image(
    detector: TextDetector,
) -> None:
    rgb = _image()
    config = TextDetectorConfig(box_threshold=0.0, text_threshold=0.0, nms_iou=0.5, max_instances=5)
    detections = detector.detect(rgb, "The dog", config)
    assert 1 <= len(detections) <= 5
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= 70 and 0 <= y0 < y1 <= 50
        assert 0 < d.score <= 1
        assert d.label in {"the", "dog", "the dog"}  # query words only: no [SEP], no period
    for i, a in enumerate(detections):  # NMS: no two kept boxes overlap more than nms_iou
        for b in detections[i + 1 :]:
            iou = _iou(a.box, b.box)
            assert iou <= 0.5 + 1e-6

    best = detector.detect(rgb, "the dog.", TextDetectorConfig(box_threshold=0.0, nms_iou=0.5))
    assert best == detections[:1]


def test_detector_scores_are_the_models_and_respect_the_threshold(
    detector: TextDetector,
) -> None:
    rgb = _image()
    inputs = detector.processor(images=rgb, text="the dog.", return_tensors="pt")
    with torch.inference_mode():
        logits = detector.model(**inputs).logits[0]
    query_scores = torch.sigmoid(logits).max(dim=-1).values
    threshold = float(query_scores.median())
    config = TextDetectorConfig(box_threshold=threshold, nms_iou=1.0, max_instances=100)
    detections = detector.detect(rgb, "the dog", config)
    assert detections
    assert len(detections) <= int((query_scores > threshold).sum())
    for d in detections:
        assert d.score > threshold
        assert torch.isclose(query_scores, torch.tensor(d.score)).any()


def test_detector_rejects_empty_and_overlong_text(detector: TextDetector) -> None:
    with pytest.raises(MamError, match="empty"):
        detector.detect(_image(), "  . ")
    with pytest.raises(MamError, match="too long: .* 32"):
        detector.detect(_image(), " ".join(["dog"] * 40))


def test_detector_folder_without_weights_is_a_one_line_error(
    detector_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((detector_dir / "config.json").read_bytes())
    with pytest.raises(InputError) as error:
        TextDetector.from_pretrained(broken)
    assert str(error.value).startswith(f"{broken}: cannot load the Grounding DINO detector")
    assert "\n" not in str(error.value)


def test_ground_instances_replaces_text_with_detected_boxes(detector: TextDetector) -> None:
    rgb = _image()
    config = TextDetectorConfig(box_threshold=0.0, nms_iou=0.5, max_instances=3)
    instances = [
        Instance(id="dog", text="the dog", points=[(5.0, 5.0)], point_labels=[1]),
        Instance(id="dog_1", box=(1.0, 1.0, 20.0, 20.0), text="a label only"),
    ]
    grounded = ground_instances(detector, rgb, instances, config)
    expected = detector.detect(rgb, "the dog", config)
    assert len(expected) == 3
    assert [i.id for i in grounded.instances] == ["dog", "dog_1_", "dog_2", "dog_1"]
    assert [i.box for i in grounded.instances[:3]] == [d.box for d in expected]
    assert all(i.points == [(5.0, 5.0)] and i.text == "the dog" for i in grounded.instances[:3])
    assert grounded.instances[3] is instances[1]
    assert grounded.detections == [
        {"id": "dog", "text": "the dog", "detections": [d.to_dict() for d in expected]}
    ]
    assert grounded.warnings == []

    nothing = ground_instances(detector, rgb, instances[:1], TextDetectorConfig(box_threshold=1.0))
    assert nothing.instances == []
    assert nothing.detections == [{"id": "dog", "text": "the dog", "detections": []}]
    assert nothing.warnings == [
        "instance dog: no box for 'the dog' scored above box_threshold 1.0; skipped"
    ]


def test_text_to_boxes_to_sam_to_m2m(
    detector: TextDetector, tiny_sam_checkpoint: Path, m2m_checkpoint: Path
) -> None:
    from mamcli.model.api import MattingAnything

    rgb = _image(60, 80)
    config = TextDetectorConfig(box_threshold=0.0, nms_iou=0.5, max_instances=2)
    instances = [Instance(id="0", text="the dog on the left")]
    grounded = ground_instances(detector, rgb, instances, config)
    assert [i.id for i in grounded.instances] == ["0", "0_1"]

    mam = MattingAnything.from_checkpoints(tiny_sam_checkpoint, m2m_checkpoint, device="cpu")
    encoded = mam.encode([mam.sam.prepare(rgb)])[0]
    mattes = mam.matte(encoded, grounded.instances)
    assert len(mattes) == 2
    for matte in mattes:
        assert matte.alpha.shape == matte.mask.shape == (60, 80)
        assert matte.alpha.dtype == np.float32
        assert 0 <= matte.alpha.min() <= matte.alpha.max() <= 1


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_mam_matte_text_flag_end_to_end(
    detector_dir: Path, tiny_sam_checkpoint: Path, m2m_checkpoint: Path, tmp_path: Path
) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from mamcli.cli import app

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(_image(60, 80)).save(folder / "dog.png")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "matte", str(folder), "-o", str(out), "--engine", "mam", "--device", "cpu",
            "--sam-checkpoint", str(tiny_sam_checkpoint), "--m2m-checkpoint", str(m2m_checkpoint),
            "--text", "the dog", "--detector", str(detector_dir), "--box-threshold", "0.0",
            "--max-instances", "2", "--outputs", "alpha",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert record["prompt_source"] == "text"
    found = record["text_detections"][0]
    assert found["text"] == "the dog" and 1 <= len(found["detections"]) <= 2
    assert [p["box"] for p in record["prompts"]] == [d["box"] for d in found["detections"]]
    assert (out / "alpha" / "dog.png").is_file()
