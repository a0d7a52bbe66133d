"""Find the input images of a run: files and folders, searched recursively."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path, PurePosixPath

from mamcli.errors import InputError
from mamcli.imaging.read import IMAGE_EXTENSIONS, extension_list
from mamcli.results import ImageItem


def find_images(
    inputs: Iterable[Path], glob: str | None = None, exclude: Iterable[Path] = ()
) -> list[ImageItem]:
    """List the images in `inputs` (files and folders, searched recursively).

    Folders yield files with a known image extension (case-insensitive) whose path
    relative to the folder matches `glob` (see `glob_matches`); hidden files and folders
    (name starting with '.') and anything inside `exclude` (e.g. the output folder) are
    skipped, and folder symlinks are not followed. A file named directly is always taken
    if its extension is an image one. The same file reached twice is listed once.
    Sorted by (rel, root) so runs are reproducible.
    """
    excluded = [Path(p).resolve() for p in exclude]
    seen: set[Path] = set()
    items: list[ImageItem] = []
    for given in inputs:
        given = Path(given)
        if given.is_dir():
            found = _scan_folder(given, glob, excluded)
        elif given.is_file():
            if given.suffix.lower() not in IMAGE_EXTENSIONS:
                raise InputError(given, f"not a supported image type ({extension_list()})")
            found = [ImageItem(given, given.parent, PurePosixPath(given.name))]
        else:
            raise InputError(given, "no such file or folder")
        for item in found:
            key = item.path.resolve()
            if key not in seen:
                seen.add(key)
                items.append(item)
    return sorted(items, key=lambda item: (item.rel.parts, str(item.root)))


def glob_matches(rel: PurePosixPath, pattern: str) -> bool:
    """Does `rel` match `pattern`? Case-insensitive, like the extensions.

    A pattern without '/' is matched against the file name at any depth ("*.jpg"); one
    with '/' against the whole relative path, where '*' and '?' stay within one folder
    level and '**/' stands for any number of folders ("**/*.png", "2024/*/IMG_*").
    """
    target = str(rel) if "/" in pattern else rel.name
    return _glob_regex(pattern).fullmatch(target) is not None


IGNORE_MARKER = ".mamignore"


def _skipped_folder(folder: Path, excluded: list[Path]) -> bool:
    """Hidden folders, excluded ones and those holding a `.mamignore` file are not searched."""
    return (
        folder.name.startswith(".")
        or (folder / IGNORE_MARKER).exists()
        or _inside(folder, excluded)
    )


def _scan_folder(root: Path, glob: str | None, excluded: list[Path]) -> list[ImageItem]:
    items = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not _skipped_folder(here / d, excluded)]
        for name in files:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            path = here / name
            rel = PurePosixPath(path.relative_to(root).as_posix())
            if glob is not None and not glob_matches(rel, glob):
                continue
            if not _inside(path, excluded):
                items.append(ImageItem(path, root, rel))
    return items


def _inside(path: Path, excluded: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == ex or ex in resolved.parents for ex in excluded)


@lru_cache(maxsize=32)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def collisions(items: list[ImageItem]) -> tuple[list[ImageItem], list[tuple[ImageItem, str]]]:
    """Inputs whose outputs would overwrite another's (same folder and stem) are refused."""
    seen: dict[tuple[str, ...], ImageItem] = {}
    kept, refused = [], []
    for item in items:
        key = (*item.rel.parent.parts, item.rel.stem)
        if key in seen:
            refused.append((item, f"same output name as {seen[key].path}; rename one of them"))
        else:
            seen[key] = item
            kept.append(item)
    return kept, refused
