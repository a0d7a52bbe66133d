"""Parsers for the prompt file formats: mam's own JSON, LabelMe, YOLO, Pascal VOC, COCO.

Each parser turns one format into `Instance`s in original pixel coordinates, with boxes
as [x0, y0, x1, y1] corner coordinates (a box over pixel columns 10..19 is x0=10, x1=20,
as in COCO). They check structure and numbers only; mamcli.prompts.sources checks the boxes
against the image (clipping, ids) the same way for every format.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamcli.errors import InputError
from mamcli.results import Instance

INSTANCE_KEYS = ("id", "box", "points", "labels", "text")
# LabelMe point labels that mean "background" (label 0); any other label is foreground.
BACKGROUND_LABELS = frozenset({"bg", "background", "neg", "negative", "0"})

Size = tuple[int, int]  # (width, height), as Pillow's Image.size


@dataclass(frozen=True)
class Where:
    """The prompt file and the place in it that a message is about."""

    file: Path
    prefix: str = ""

    def at(self, place: str) -> Where:
        return Where(self.file, f"{self.prefix}{place}: ")

    def error(self, problem: str) -> InputError:
        return InputError(self.file, self.prefix + problem)

    def note(self, problem: str) -> str:
        return f"{self.file}: {self.prefix}{problem}"


@dataclass
class Parsed:
    """Instances read from one format, the image size it declares (if any) and warnings."""

    instances: list[Instance]
    declared_size: Size | None = None
    warnings: list[str] = field(default_factory=list)


def number(value: Any, where: Where, what: str) -> float:
    """A finite JSON/text number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"{what}: expected a number, got {shown(value)}")
    if not math.isfinite(value):
        raise where.error(f"{what}: non-finite number {value}")
    return float(value)


def fmt(values: tuple[float, ...] | list[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


# --- mam's own schema ---------------------------------------------------------------


def parse_mam(value: Any, where: Where) -> Parsed:
    """A prompt set: list of instances, list of boxes, one box, or {"instances": [...]}."""
    warnings: list[str] = []
    if isinstance(value, dict):
        if "instances" not in value:
            raise where.error(
                'expected a list of instances or boxes, a box, or {"instances": [...]}'
            )
        warnings += [where.note(f"unknown key '{k}' ignored") for k in value if k != "instances"]
        value = value["instances"]
    if not isinstance(value, list):
        raise where.error(f"expected a list of instances or boxes, got {type(value).__name__}")
    if len(value) == 4 and not any(isinstance(v, (list, dict)) for v in value):
        return Parsed([Instance(box=_box(value, where.at("box")))], warnings=warnings)
    instances = [
        _mam_instance(entry, where.at(f"instance {i}"), warnings) for i, entry in enumerate(value)
    ]
    return Parsed(instances, warnings=warnings)


def _mam_instance(entry: Any, where: Where, warnings: list[str]) -> Instance:
    if isinstance(entry, list):
        return Instance(box=_box(entry, where.at("box")))
    if not isinstance(entry, dict):
        raise where.error(f"expected an object or a box, got {shown(entry)}")
    warnings += [where.note(f"unknown key '{k}' ignored") for k in entry if k not in INSTANCE_KEYS]
    instance = Instance()
    if "id" in entry:
        instance.id = _instance_id(entry["id"], where)
    if "box" in entry:
        instance.box = _box(entry["box"], where.at("box"))
    points = entry.get("points", [])
    if not isinstance(points, list):
        raise where.error("points: expected a list of [x, y]")
    instance.points = [_point(p, where.at(f"point {j}")) for j, p in enumerate(points)]
    count = len(instance.points)
    instance.point_labels = (
        _labels(entry["labels"], count, where) if "labels" in entry else [1] * count
    )
    if "text" in entry:
        text = entry["text"]
        if not isinstance(text, str) or not text.strip():
            raise where.error("text: expected a non-empty string")
        instance.text = text
    if instance.box is None and not instance.points and instance.text is None:
        raise where.error("has no box, points or text")
    return instance


def shown(value: Any, limit: int = 80) -> str:
    """`value` as JSON for an error message, cut to `limit` characters (one short line
    even for a huge or deeply nested value)."""
    text = json.dumps(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _instance_id(value: Any, where: Where) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise where.error(f"id: expected a string or an integer, got {shown(value)}")
    return str(value)


def _box(value: Any, where: Where) -> tuple[float, float, float, float]:
    if not isinstance(value, list) or len(value) != 4:
        raise where.error(f"expected [x0, y0, x1, y1], got {shown(value)}")
    x0, y0, x1, y1 = (number(v, where, "coordinate") for v in value)
    return (x0, y0, x1, y1)


def _point(value: Any, where: Where) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise where.error(f"expected [x, y], got {shown(value)}")
    return (number(value[0], where, "x"), number(value[1], where, "y"))


def _labels(value: Any, count: int, where: Where) -> list[int]:
    if not isinstance(value, list) or len(value) != count:
        raise where.error(f"labels: expected a list of {count} labels, one per point")
    if any(isinstance(v, bool) or v not in (0, 1) for v in value):
        raise where.error("labels: each label must be 1 (foreground) or 0 (background)")
    return [int(v) for v in value]


# --- LabelMe ------------------------------------------------------------------------


def is_labelme(doc: Any) -> bool:
    return isinstance(doc, dict) and "shapes" in doc


def parse_labelme(doc: dict, where: Where) -> Parsed:
    """`rectangle` shapes -> boxes, `point` shapes -> point prompts.

    Shapes sharing a group_id form one instance (a rectangle plus points, or several
    points); each ungrouped rectangle is an instance, and all ungrouped points together
    form one more. A point labelled bg/background/neg/negative/0 is background.
    """
    shapes = doc["shapes"]
    if not isinstance(shapes, list):
        raise where.error("shapes: expected a list")
    parsed = Parsed([], declared_size=_declared(doc, "imageWidth", "imageHeight", where))
    groups: dict[Any, Instance] = {}
    for i, shape in enumerate(shapes):
        at = where.at(f"shape {i}")
        if not isinstance(shape, dict):
            raise at.error("expected an object")
        kind = shape.get("shape_type") or "polygon"
        if kind not in ("rectangle", "point"):
            parsed.warnings.append(at.note(f"'{kind}' shape ignored (only rectangle and point)"))
            continue
        points = shape.get("points")
        wanted = 2 if kind == "rectangle" else 1
        if not isinstance(points, list) or len(points) != wanted:
            raise at.error(f"a {kind} needs {wanted} point(s) in 'points'")
        xy = [_point(p, at) for p in points]
        group = shape.get("group_id")
        key = ("group", group) if group is not None else ("box", i) if wanted == 2 else "points"
        if key not in groups:
            groups[key] = Instance()
            parsed.instances.append(groups[key])
        instance = groups[key]
        if kind == "rectangle":
            if instance.box is not None:
                raise at.error(f"group {group} has more than one rectangle")
            (xa, ya), (xb, yb) = xy
            instance.box = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
        else:
            label = str(shape.get("label", "")).strip().lower()
            instance.points.append(xy[0])
            instance.point_labels.append(0 if label in BACKGROUND_LABELS else 1)
    return parsed


# --- YOLO ---------------------------------------------------------------------------


def looks_like_yolo(text: str) -> bool:
    """A .txt sidecar is YOLO when its first non-blank line is all numbers (not a caption)."""
    for line in text.splitlines():
        if line.strip():
            return all(_is_number(token) for token in line.split())
    return True  # an empty label file: a detector that found nothing


def parse_yolo(
    text: str, where: Where, image_size: Size, categories: set[str] | None, min_score: float | None
) -> Parsed:
    """`cls cx cy w h [conf]` per line, normalised to 0..1 -> pixel boxes."""
    width, height = image_size
    parsed = Parsed([])
    for number_, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        at = where.at(f"line {number_}")
        if len(tokens) not in (5, 6) or not all(_is_number(t) for t in tokens):
            raise at.error("expected 'class cx cy w h [confidence]' (5 or 6 numbers)")
        cls, cx, cy, w, h, *conf = (number(float(t), at, "value") for t in tokens)
        if not cls.is_integer() or cls < 0:
            raise at.error(f"class must be a whole number, got {tokens[0]}")
        if max(cx, cy, w, h) > 1.01 or min(cx, cy, w, h) < -0.01:
            raise at.error("values must be normalised to 0..1 (these look like pixels)")
        if categories is not None and str(int(cls)) not in categories:
            continue
        if min_score is not None and conf and conf[0] < min_score:
            continue
        box = (
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        )
        parsed.instances.append(Instance(box=box))
    return parsed


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --- Pascal VOC ---------------------------------------------------------------------


def parse_voc_xml(data: bytes, where: Where) -> ET.Element | None:
    """The <annotation> root of a VOC file, or None for XML that is not VOC."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise where.error(f"invalid XML: {exc}") from None
    return root if root.tag == "annotation" else None


def parse_voc(root: ET.Element, where: Where, categories: set[str] | None) -> Parsed:
    """<object><bndbox> -> boxes; --category keeps objects by <name>.

    VOC counts pixels from 1 and xmax/ymax are inclusive, so the pixel corners are
    (xmin - 1, ymin - 1, xmax, ymax): <xmin>1</xmin><xmax>10</xmax> is x0=0, x1=10.
    """
    size = root.find("size")
    declared = None
    if size is not None:
        width, height = (_xml_int(size, tag, where.at("size")) for tag in ("width", "height"))
        declared = (width, height) if width and height else None  # 0 = "unknown" in some tools
    parsed = Parsed([], declared_size=declared)
    for i, obj in enumerate(root.findall("object")):
        at = where.at(f"object {i}")
        name = (obj.findtext("name") or "").strip()
        if categories is not None and name not in categories:
            continue
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise at.error("no <bndbox>")
        xmin, ymin, xmax, ymax = (
            _xml_number(bndbox, t, at) for t in ("xmin", "ymin", "xmax", "ymax")
        )
        parsed.instances.append(Instance(box=(xmin - 1, ymin - 1, xmax, ymax)))
    return parsed


def _xml_number(parent: ET.Element, tag: str, where: Where) -> float:
    text = parent.findtext(tag)
    if text is None or not _is_number(text.strip()):
        raise where.error(f"<{tag}>: expected a number, got {text!r}")
    return number(float(text), where, f"<{tag}>")


def _xml_int(parent: ET.Element, tag: str, where: Where) -> int:
    value = _xml_number(parent, tag, where)
    if not value.is_integer() or value < 0:
        raise where.error(f"<{tag}>: expected a whole number of pixels, got {value:g}")
    return int(value)


def _declared(doc: dict, wkey: str, hkey: str, where: Where) -> Size | None:
    if doc.get(wkey) is None or doc.get(hkey) is None:
        return None
    width, height = number(doc[wkey], where, wkey), number(doc[hkey], where, hkey)
    return (int(width), int(height))


# --- COCO ---------------------------------------------------------------------------


@dataclass
class CocoImage:
    """One entry of a COCO `images` table with its (still unparsed) annotations."""

    file_name: str
    declared_size: Size | None
    annotations: list[dict] = field(default_factory=list)


def index_coco(doc: Any, where: Where) -> tuple[list[CocoImage], dict[int | str, str]]:
    """The images (with their annotations) and the id -> name map of the categories."""
    if isinstance(doc, list):
        raise where.error(
            "a COCO results list has no 'images' table to match file names: give a COCO "
            "file with 'images' and 'annotations'"
        )
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise where.error("not a COCO file (no 'images' list)")
    by_id: dict[int | str, CocoImage] = {}
    for i, entry in enumerate(doc["images"]):
        at = where.at(f"images[{i}]")
        if not isinstance(entry, dict) or not isinstance(entry.get("file_name"), str):
            raise at.error("expected an object with 'id' and 'file_name'")
        image_id = _coco_id(entry.get("id"), at, "id")
        if image_id in by_id:
            raise at.error(f"duplicate image id {image_id}")
        by_id[image_id] = CocoImage(entry["file_name"], _declared(entry, "width", "height", at))
    annotations = doc.get("annotations", [])
    if not isinstance(annotations, list):
        raise where.error("annotations: expected a list")
    for i, ann in enumerate(annotations):
        at = where.at(f"annotations[{i}]")
        if not isinstance(ann, dict):
            raise at.error("expected an object")
        image_id = _coco_id(ann.get("image_id"), at, "image_id")
        if image_id not in by_id:
            raise at.error(f"image_id {image_id} is not in 'images'")
        by_id[image_id].annotations.append(ann)
    categories: dict[int | str, str] = {}
    for i, cat in enumerate(doc.get("categories") or []):
        at = where.at(f"categories[{i}]")
        if not isinstance(cat, dict):
            raise at.error("expected an object with 'id' and 'name'")
        categories[_coco_id(cat.get("id"), at, "id")] = str(cat.get("name", ""))
    return list(by_id.values()), categories


def parse_coco_image(
    image: CocoImage, where: Where, category_ids: set[int | str] | None, min_score: float | None
) -> Parsed:
    """Boxes of one COCO image: bbox [x, y, w, h] -> [x, y, x + w, y + h]; id kept.

    Crowd regions (iscrowd 1) are skipped; --min-score only drops annotations that have
    a score (ground truth has none).
    """
    parsed = Parsed([], declared_size=image.declared_size)
    for ann in image.annotations:
        label = f"annotation {ann['id']}" if "id" in ann else "annotation"
        at = where.at(label)
        if category_ids is not None and ann.get("category_id") not in category_ids:
            continue
        if ann.get("iscrowd"):
            parsed.warnings.append(at.note("crowd region (iscrowd) skipped"))
            continue
        scored = min_score is not None and "score" in ann
        if scored and number(ann["score"], at, "score") < min_score:
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise at.error(f"bbox: expected [x, y, width, height], got {shown(bbox)}")
        x, y, w, h = (number(v, at, "bbox") for v in bbox)
        ann_id = _instance_id(ann["id"], at) if "id" in ann else None
        parsed.instances.append(Instance(id=ann_id, box=(x, y, x + w, y + h)))
    return parsed


def _coco_id(value: Any, where: Where, key: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise where.error(f"{key}: expected an integer or a string, got {shown(value)}")
    return value
