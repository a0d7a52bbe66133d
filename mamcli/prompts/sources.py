"""Prompts for each image, from several sources: the first source that has an entry wins.

Order (docs/prompts.md): (1) a mam sidecar `<stem>.json`, (2) the `--boxes` file,
(3) the `--coco` file, (4) a LabelMe sidecar `<stem>.json`, (5) a YOLO sidecar
`<stem>.txt`, (6) a Pascal VOC sidecar `<stem>.xml`. A source that has an entry for the
image wins even if filters (`--category`, `--min-score`) leave no instance in it.

Every format goes through the same checks against the image (after EXIF rotation):
declared image size, degenerate boxes, clipping, points inside, safe instance ids.
"""

from __future__ import annotations

import hashlib
import json
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mamcli.errors import InputError
from mamcli.options import Resume, option
from mamcli.prompts.checks import check_size, finalise
from mamcli.prompts.formats import (
    CocoImage,
    Parsed,
    Size,
    Where,
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


@dataclass
class PromptSet:
    """The prompts of one image: instances, where they came from, and warnings to show.

    source is "<kind>:<file>" with kind sidecar, boxes, coco, labelme, yolo or voc.
    """

    instances: list[Instance]
    source: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class Located:
    """The source that has an image's prompts: kind, file, the raw entry, message prefix."""

    kind: str
    file: Path
    raw: Any
    context: str = ""

    def identity(self) -> str:
        if isinstance(self.raw, ET.Element):
            content = ET.tostring(self.raw)
        elif isinstance(self.raw, CocoImage):
            content = json.dumps(self.raw.annotations, sort_keys=True, default=str).encode()
        elif isinstance(self.raw, str):
            content = self.raw.encode()
        else:
            content = json.dumps(self.raw, sort_keys=True).encode()
        return f"{self.kind}:{hashlib.sha256(content).hexdigest()[:16]}"


@dataclass
class PromptSources:
    """Where prompts come from. Call `load()` once (it reads --boxes and --coco, checking
    their keys), then `prompts_for(item, (width, height))` per image.

    Precedence (first match wins; docs/prompts.md): a file named on the command line
    (`--boxes`, then `--coco`), then the files beside the images: a mam sidecar
    `<stem>.json`, the input folder's `boxes.json`, LabelMe `<stem>.json`, YOLO
    `<stem>.txt`, Pascal VOC `<stem>.xml`.
    """

    boxes_file: Path | None = option(
        None,
        flag="--boxes",
        resume=Resume.IDENTITY,
        panel="Prompts",
        metavar="FILE",
        help="Prompt file keyed by relative path, name or stem; wins over sidecars. "
        "Default: INPUT/boxes.json when there is one (below sidecars).",
    )
    coco_file: Path | None = option(
        None,
        flag="--coco",
        resume=Resume.IDENTITY,
        panel="Prompts",
        metavar="FILE",
        help="COCO detections or annotations file; wins over sidecars.",
    )
    category: str | None = option(
        None, panel="Prompts", help="Keep these classes (names or ids, comma-separated)."
    )
    min_score: float | None = option(
        None, panel="Prompts", help="Drop detections scored below this."
    )
    use_sidecars: bool = option(
        True,
        flag="--sidecars",
        resume=Resume.IDENTITY,
        panel="Prompts",
        help="Read <stem>.json/.txt/.xml prompts beside the images.",
    )
    default_boxes: Path | None = field(default=None, init=False, repr=False)
    _boxes: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _default: dict[str, Any] | None = field(default=None, init=False, repr=False)
    _coco: dict[str, list[CocoImage]] | None = field(default=None, init=False, repr=False)
    _coco_categories: set[int | str] | None = field(default=None, init=False, repr=False)
    _loaded: bool = field(default=False, init=False, repr=False)

    def load(self, inputs: Iterable[Path] = ()) -> PromptSources:
        """Read and check the global prompt files (raises InputError); returns self.

        With no --boxes and a single input folder holding `boxes.json`, that file is used,
        below the sidecars."""
        if self._loaded:
            return self
        inputs = [Path(p) for p in inputs]
        if self.boxes_file is not None:
            self._boxes = _load_boxes(Path(self.boxes_file))
        elif len(inputs) == 1 and (inputs[0] / "boxes.json").is_file():
            self.default_boxes = inputs[0] / "boxes.json"
            self._default = _load_boxes(self.default_boxes)
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
        check_size(result.declared_size, image_size, where)
        instances = finalise(result.instances, image_size, where, result.warnings)
        return PromptSet(instances, f"{kind}:{where.file}", result.warnings)

    def unmatched(self, items: Iterable[ImageItem]) -> list[str]:
        """Keys of --boxes and file names of --coco that none of `items` uses (typos, or
        images that are not there). An image uses the key it would be prompted from."""
        self.load()
        boxes = self._boxes if self._boxes is not None else self._default
        used: set[str] = set()
        for item in items:
            if boxes is not None:
                used.add(_match_key(item.rel, boxes) or "")
            for name in (str(item.rel), item.rel.name) if self._coco is not None else ():
                if found := self._coco.get(name):
                    used.update(image.file_name for image in found)
                    break
        names = list(boxes or {})
        names += sorted(
            {image.file_name for found in (self._coco or {}).values() for image in found}
        )
        return [name for name in names if name not in used]

    def locate(self, item: ImageItem) -> Located | None:
        """Which source has this image's prompts, and its raw entry (nothing parsed yet)."""
        self.load()
        if self._boxes is not None and (key := _match_key(item.rel, self._boxes)) is not None:
            return Located("boxes", Path(self.boxes_file), self._boxes[key], f"image {item.rel}: ")
        if self._coco is not None and (image := self._coco_image(item)) is not None:
            return Located("coco", Path(self.coco_file), image, f"image {item.rel}: ")
        sidecar_json = _sidecar(item, ".json") if self.use_sidecars else None
        doc = _read_json(sidecar_json) if sidecar_json else None
        if sidecar_json and not is_labelme(doc):
            return Located("sidecar", sidecar_json, doc)
        if self._default is not None and (key := _match_key(item.rel, self._default)):
            return Located("boxes", self.default_boxes, self._default[key], f"image {item.rel}: ")
        if sidecar_json:
            return Located("labelme", sidecar_json, doc)
        if not self.use_sidecars:
            return None
        text_file = _sidecar(item, ".txt")
        if text_file is not None and looks_like_yolo(text := _read_text(text_file)):
            return Located("yolo", text_file, text)
        xml_file = _sidecar(item, ".xml")
        if xml_file is not None:
            root = parse_voc_xml(_read_bytes(xml_file), Where(xml_file))
            if root is not None:
                return Located("voc", xml_file, root)
        return None

    def identity(self, item: ImageItem) -> str:
        """What this image's prompts are, as resolved for this run: the winning source and a
        hash of its entry (resume redoes an image whose prompts changed, and only it)."""
        found = self.locate(item)
        return "none" if found is None else found.identity()

    def _first_match(self, item: ImageItem, size: Size) -> tuple[str, Where, Parsed] | None:
        found = self.locate(item)
        if found is None:
            return None
        where = Where(found.file, found.context)
        if found.kind in ("boxes", "sidecar"):
            return found.kind, where, parse_mam(found.raw, where)
        if found.kind == "coco":
            parsed = parse_coco_image(found.raw, where, self._coco_categories, self.min_score)
            return "coco", where, parsed
        if found.kind == "labelme":
            return "labelme", where, parse_labelme(found.raw, where)
        if found.kind == "yolo":
            categories = self._categories()
            return "yolo", where, parse_yolo(found.raw, where, size, categories, self.min_score)
        return "voc", where, parse_voc(found.raw, where, self._categories())

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


# A prompt file larger than this is refused before reading (bounded memory).
MAX_PROMPT_FILE_BYTES = 256 * 1024 * 1024


def _read_bytes(file: Path) -> bytes:
    """The file's bytes; refuses non-regular files (a FIFO would block) and huge files."""
    try:
        info = file.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InputError(file, "not a regular file")
        if info.st_size > MAX_PROMPT_FILE_BYTES:
            limit = MAX_PROMPT_FILE_BYTES // 2**20
            raise InputError(file, f"{info.st_size} bytes, over the {limit} MB prompt-file limit")
        with file.open("rb") as handle:
            return handle.read(MAX_PROMPT_FILE_BYTES + 1)
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
    except RecursionError:
        raise InputError(file, "JSON nested too deeply") from None
