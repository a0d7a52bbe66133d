"""Prompts for each image, from several sources: the first source that has an entry wins.

Order (docs/prompts.md): (1) a mam sidecar `<stem>.json`, (2) the `--boxes` file,
(3) the `--coco` file, (4) a LabelMe sidecar `<stem>.json`, (5) a YOLO sidecar
`<stem>.txt`, (6) a Pascal VOC sidecar `<stem>.xml`. A source that has an entry for the
image wins even if filters (`--category`, `--min-score`) leave no instance in it.

Every format goes through the same checks against the image (after EXIF rotation):
declared image size, degenerate boxes, clipping, points inside, safe instance ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mamcli.errors import InputError
from mamcli.prompts.formats import (
    CocoImage,
    Parsed,
    Size,
    Where,
    fmt,
    index_coco,
    is_labelme,
    looks_like_yolo,
    parse_coco_image,
    parse_labelme,
    parse_mam,
    parse_voc,
    parse_voc_xml,
    parse_yolo,
)
from mamcli.results import ImageItem, Instance

MAX_ID_LENGTH = 64
_ID_UNSAFE = re.compile(r"[^\w.-]")
_DOTS = re.compile(r"\.{2,}")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}
)


@dataclass
class PromptSet:
    """The prompts of one image: instances, where they came from, and warnings to show.

    source is "<kind>:<file>" with kind sidecar, boxes, coco, labelme, yolo or voc.
    """

    instances: list[Instance]
    source: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class PromptSources:
    """Where prompts come from. Call `load()` once (it reads --boxes and --coco, checking
    their keys), then `prompts_for(item, (width, height))` per image.

    category: comma-separated class names or ids, kept from COCO (name or id), VOC
    (object name) and YOLO (class number) files. min_score: drop COCO/YOLO detections
    scored below it. use_sidecars: look for `<stem>.json/.txt/.xml` next to each image.
    """

    boxes_file: Path | None = None
    coco_file: Path | None = None
    category: str | None = None
    min_score: float | None = None
    use_sidecars: bool = True
    _boxes: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _coco: dict[str, list[CocoImage]] | None = field(default=None, init=False, repr=False)
    _coco_categories: set[int | str] | None = field(default=None, init=False, repr=False)
    _loaded: bool = field(default=False, init=False, repr=False)

    def load(self) -> PromptSources:
        """Read and check the global prompt files (raises InputError); returns self."""
        if self._loaded:
            return self
        if self.boxes_file is not None:
            self._boxes = _load_boxes(Path(self.boxes_file))
        if self.coco_file is not None:
            where = Where(Path(self.coco_file))
            images, categories = index_coco(_read_json(where.file), where)
            self._coco = _index_coco_names(images)
            if self.category is not None:
                self._coco_categories = _coco_category_ids(self.category, categories, where)
        self._loaded = True
        return self

    def prompts_for(self, item: ImageItem, image_size: Size) -> PromptSet | None:
        """The prompts of one image of size (width, height), or None when no source has any.

        Raises InputError (naming the prompt file) for a bad entry of this image.
        """
        self.load()
        parsed = self._first_match(item, image_size)
        if parsed is None:
            return None
        kind, where, result = parsed
        _check_size(result.declared_size, image_size, where)
        instances = finalise(result.instances, image_size, where, result.warnings)
        return PromptSet(instances, f"{kind}:{where.file}", result.warnings)

    def unmatched(self, items: Iterable[ImageItem]) -> list[str]:
        """Keys of --boxes and file names of --coco that none of `items` uses (typos, or
        images that are not there). An image uses the key it would be prompted from."""
        self.load()
        used: set[str] = set()
        for item in items:
            if self._boxes is not None:
                used.add(_match_key(item.rel, self._boxes) or "")
            for name in (str(item.rel), item.rel.name) if self._coco is not None else ():
                if found := self._coco.get(name):
                    used.update(image.file_name for image in found)
                    break
        names = list(self._boxes or {})
        names += sorted(
            {image.file_name for found in (self._coco or {}).values() for image in found}
        )
        return [name for name in names if name not in used]

    def _first_match(self, item: ImageItem, size: Size) -> tuple[str, Where, Parsed] | None:
        sidecar_json = _sidecar(item, ".json") if self.use_sidecars else None
        doc = _read_json(sidecar_json) if sidecar_json else None
        if sidecar_json and not is_labelme(doc):
            return "sidecar", Where(sidecar_json), parse_mam(doc, Where(sidecar_json))
        if self._boxes is not None:
            key = _match_key(item.rel, self._boxes)
            if key is not None:
                where = Where(Path(self.boxes_file), f"image {item.rel}: ")
                return "boxes", where, parse_mam(self._boxes[key], where)
        if self._coco is not None:
            image = self._coco_image(item)
            if image is not None:
                where = Where(Path(self.coco_file), f"image {item.rel}: ")
                parsed = parse_coco_image(image, where, self._coco_categories, self.min_score)
                return "coco", where, parsed
        if sidecar_json:
            return "labelme", Where(sidecar_json), parse_labelme(doc, Where(sidecar_json))
        if not self.use_sidecars:
            return None
        return self._yolo(item, size) or self._voc(item)

    def _coco_image(self, item: ImageItem) -> CocoImage | None:
        for name in (str(item.rel), item.rel.name):
            found = self._coco.get(name)
            if found is None:
                continue
            if len(found) > 1:
                listed = ", ".join(image.file_name for image in found)
                raise InputError(self.coco_file, f"image {item.rel} matches several: {listed}")
            return found[0]
        return None

    def _categories(self) -> set[str] | None:
        if self.category is None:
            return None
        return {token.strip() for token in self.category.split(",") if token.strip()}

    def _yolo(self, item: ImageItem, size: Size) -> tuple[str, Where, Parsed] | None:
        file = _sidecar(item, ".txt")
        if file is None:
            return None
        text = _read_text(file)
        if not looks_like_yolo(text):
            return None  # a caption or note, not a label file
        parsed = parse_yolo(text, Where(file), size, self._categories(), self.min_score)
        return "yolo", Where(file), parsed

    def _voc(self, item: ImageItem) -> tuple[str, Where, Parsed] | None:
        file = _sidecar(item, ".xml")
        if file is None:
            return None
        root = parse_voc_xml(_read_bytes(file), Where(file))
        if root is None:
            return None
        return "voc", Where(file), parse_voc(root, Where(file), self._categories())


def finalise(
    instances: list[Instance], image_size: Size, where: Where, warnings: list[str]
) -> list[Instance]:
    """Check instances against the image and give every one a safe, unique id.

    Raises for an empty or inverted box (x1 <= x0 or y1 <= y0), a box entirely outside
    the image, or a point outside it; clips boxes that stick out (with a warning).
    """
    width, height = image_size
    _assign_ids(instances, where, warnings)
    for index, instance in enumerate(instances):
        at = where.at(f"instance {index} (id '{instance.id}')")
        if instance.box is not None:
            instance.box = _clip_box(instance.box, width, height, at, warnings)
        for x, y in instance.points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise at.error(f"point ({x:g}, {y:g}) is outside the {width} x {height} image")
    return instances


def safe_id(raw: str) -> str:
    """An instance id usable as a file name: characters other than letters, digits, '_',
    '.' and '-' become '_', so do runs of dots ('..') and a leading '.' (no hidden files),
    at most 64 characters, and Windows device names (CON, NUL, ...) get a trailing '_'.
    """
    cleaned = _DOTS.sub("_", _ID_UNSAFE.sub("_", raw))[:MAX_ID_LENGTH]
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    if cleaned.split(".")[0].upper() in _WINDOWS_RESERVED:
        cleaned += "_"
    return cleaned


def _assign_ids(instances: list[Instance], where: Where, warnings: list[str]) -> None:
    taken: set[str] = set()
    for index, instance in enumerate(instances):
        if instance.id is None:
            continue
        clean = safe_id(instance.id)
        if not clean:
            raise where.error(f"instance {index}: empty id")
        if clean != instance.id:
            warnings.append(where.note(f"instance id '{instance.id}' used as '{clean}'"))
        if clean in taken:
            raise where.error(f"instance {index}: duplicate id '{clean}'")
        taken.add(clean)
        instance.id = clean
    counter = 0
    for instance in instances:
        if instance.id is None:
            while str(counter) in taken:
                counter += 1
            instance.id = str(counter)
            taken.add(instance.id)


def _clip_box(
    box: tuple[float, float, float, float], width: int, height: int, at: Where, warnings: list[str]
) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        raise at.error(f"box {fmt(box)} is empty or inverted (needs x1 > x0 and y1 > y0)")
    clipped = (max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise at.error(f"box {fmt(box)} lies entirely outside the {width} x {height} image")
    if clipped != box:
        warnings.append(at.note(f"box {fmt(box)} clipped to the image: {fmt(clipped)}"))
    return clipped


def _check_size(declared: Size | None, actual: Size, where: Where) -> None:
    if declared is None or tuple(declared) == tuple(actual):
        return
    hint = ""
    if tuple(declared) == (actual[1], actual[0]):
        hint = "; width and height swapped: annotated without applying EXIF rotation?"
    raise where.error(
        f"declares image size {declared[0]} x {declared[1]} but the image is "
        f"{actual[0]} x {actual[1]} (after EXIF rotation){hint}"
    )


def _sidecar(item: ImageItem, suffix: str) -> Path | None:
    path = item.path.with_name(item.path.stem + suffix)
    return path if path.is_file() else None


def _load_boxes(file: Path) -> dict[str, Any]:
    """The --boxes file as {normalised key: prompt set}; rejects keys outside the input root."""
    doc = _read_json(file)
    if not isinstance(doc, dict):
        raise InputError(file, "expected an object keyed by image path, file name or stem")
    boxes: dict[str, Any] = {}
    for key, value in doc.items():
        normal = normalise_key(key)
        if normal is None:
            raise InputError(
                file,
                f"key '{key}' points outside the input folder (use a path relative to it, "
                "a file name or a stem)",
            )
        if normal in boxes:
            raise InputError(file, f"key '{key}' repeats another key")
        boxes[normal] = value
    return boxes


def normalise_key(key: str) -> str | None:
    """'sub/a.jpg' for './sub//a.jpg' or 'sub\\a.jpg'; None for an absolute path or one
    with '..' (such a key could name a file outside the input root: it never matches).
    """
    text = key.replace("\\", "/")
    if text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text):
        return None
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _match_key(rel: PurePosixPath, keys: dict[str, Any]) -> str | None:
    """Relative path first, then file name, then stem."""
    for candidate in (str(rel), rel.name, rel.stem):
        if candidate in keys:
            return candidate
    return None


def _index_coco_names(images: list[CocoImage]) -> dict[str, list[CocoImage]]:
    """COCO file names -> images, under the normalised relative path and the bare name."""
    index: dict[str, list[CocoImage]] = {}
    for image in images:
        name = image.file_name.replace("\\", "/")
        names = {name.rsplit("/", 1)[-1]}
        relative = normalise_key(name)
        if relative is not None:
            names.add(relative)
        for key in names:
            index.setdefault(key, []).append(image)
    return index


def _coco_category_ids(
    category: str, categories: dict[int | str, str], where: Where
) -> set[int | str]:
    """Category ids for names or ids; without a categories table, numbers are taken as ids."""
    wanted: set[int | str] = set()
    for token in (t.strip() for t in category.split(",") if t.strip()):
        ids = {cid for cid, name in categories.items() if token in (name, str(cid))}
        if not ids and not categories and token.isdigit():
            ids = {int(token)}
        if not ids:
            known = ", ".join(sorted(set(categories.values()))) or "none"
            raise where.error(f"no category '{token}' (categories: {known})")
        wanted |= ids
    return wanted


def _read_bytes(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise InputError(file, f"cannot read: {exc.strerror or exc}") from None


def _read_text(file: Path) -> str:
    try:
        return _read_bytes(file).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(file, "not UTF-8 text") from None


def _read_json(file: Path) -> Any:
    try:
        return json.loads(_read_text(file))
    except json.JSONDecodeError as exc:
        raise InputError(
            file, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
