"""`mam prompts from-alpha`: the prompts the paper's benchmarks derive from ground truth.

Box = the tight box of alpha > 127 as inclusive [x0, y0, x1, y1]; point = one positive
point at that box's centre. The output is the prompt file `mam matte --boxes` reads: a JSON
object keyed by the GT path relative to the GT root, each value a list of instances. GT
alphas are often PNG while the images are JPEG: given the image folder, keys become the
images' own relative paths (matched by relative path and stem), so they always match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mamcli.errors import MamError
from mamcli.eval.files import existing_dir, index_files, index_instance_dirs, stem_key
from mamcli.imaging.boxes import protocol_box
from mamcli.imaging.read import read_alpha
from mamcli.options import validate
from mamcli.prompts.config import FromAlphaConfig
from mamcli.runtime.atomic import atomic_write_text
from mamcli.runtime.pool import parallel_map

BOX_THRESHOLD = 127
SINGLE_ID = "0"


def box_from_alpha(alpha: np.ndarray) -> list[int] | None:
    """The protocol box of the pixels with alpha > 127 (uint8): inclusive [x0, y0, x1, y1]
    (mamcli/imaging/boxes.py); None when there are none."""
    box = protocol_box(alpha > BOX_THRESHOLD)
    return None if box is None else list(box)


def instance_prompt(instance_id: str, box: list[int], point: bool) -> dict[str, object]:
    """One prompt-file instance: the box, or one positive point at the box's centre."""
    if not point:
        return {"id": instance_id, "box": box}
    x0, y0, x1, y1 = box
    return {"id": instance_id, "points": [[(x0 + x1) / 2, (y0 + y1) / 2]], "labels": [1]}


@dataclass
class GtPrompts:
    """Prompts per key, plus the alpha files that gave none (empty: no pixel > 127, the
    key stays with no instance) or could not be read (errors, one line each)."""

    prompts: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _prompts_for(job: tuple[str, tuple[tuple[str, Path], ...], bool]) -> GtPrompts:
    key, files, point = job
    result = GtPrompts()
    instances = []
    for instance_id, path in files:
        try:
            box = box_from_alpha(read_alpha(path))
        except MamError as exc:
            result.errors.append(str(exc))
            continue
        if box is None:
            result.empty.append(str(path))
        else:
            instances.append(instance_prompt(instance_id, box, point))
    if len(result.errors) < len(files):  # an image whose files are all unreadable gets no key
        result.prompts[key] = instances
    return result


def prompts_from_alpha(config: FromAlphaConfig) -> GtPrompts:
    """Derive box (or point) prompts from every GT alpha under `config.gt`.

    Without instances each alpha file is one image with one instance (id "0"), keyed by its
    relative path; with instances each folder holding alpha files is one image, keyed by
    the folder's relative path, with one instance per file (id = file stem). With `images`
    (the image folder), keys are the matching images' relative paths instead; a GT entry
    without an image is an error line.
    """
    validate(config)
    instances, images = config.instances, config.images
    root = existing_dir(config.gt, "ground-truth")
    if instances:
        entries = {
            key: tuple((p.stem, p) for p in paths)
            for key, paths in index_instance_dirs(root).items()
        }
    else:
        files, ambiguous = index_files(root)
        if ambiguous:
            raise MamError(f"{root / ambiguous[0]}.*: several GT files share this name")
        entries = {
            path.relative_to(root).as_posix(): ((SINGLE_ID, path),) for path in files.values()
        }
    if not entries:
        raise MamError(f"{root}: no ground-truth alpha images found")
    total = GtPrompts()
    keys = {key: key for key in entries}
    if images is not None:
        image_root = existing_dir(images, "image")
        found = index_files(image_root)[0]
        keys = {}
        for key in entries:
            image = found.get(key if instances else stem_key(Path(key)))
            if image is None:
                total.errors.append(f"{root / key}: no image with this name under {image_root}")
            else:
                keys[key] = image.relative_to(image_root).as_posix()
    jobs = [(keys[key], files, config.point) for key, files in entries.items() if key in keys]
    for part in parallel_map(_prompts_for, jobs, config.workers, "prompts", config.progress):
        total.prompts.update(part.prompts)
        total.empty += part.empty
        total.errors += part.errors
    total.prompts = dict(sorted(total.prompts.items()))
    total.empty.sort()
    total.errors.sort()
    return total


def write_prompts(prompts: GtPrompts, path: str | Path) -> None:
    """Write the prompt file (JSON, keys sorted) atomically."""
    atomic_write_text(path, json.dumps(prompts.prompts, indent=2) + "\n")
