"""Checks every prompt format goes through against its image: size, boxes, points, ids."""

from __future__ import annotations

import re

from mamcli.prompts.formats import Size, Where, fmt
from mamcli.results import Instance

MAX_ID_LENGTH = 64
_ID_UNSAFE = re.compile(r"[^\w.-]")
_DOTS = re.compile(r"\.{2,}")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}
)


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


def check_size(declared: Size | None, actual: Size, where: Where) -> None:
    if declared is None or tuple(declared) == tuple(actual):
        return
    hint = ""
    if tuple(declared) == (actual[1], actual[0]):
        hint = "; width and height swapped: annotated without applying EXIF rotation?"
    raise where.error(
        f"declares image size {declared[0]} x {declared[1]} but the image is "
        f"{actual[0]} x {actual[1]} (after EXIF rotation){hint}"
    )
