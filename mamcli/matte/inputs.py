"""Find the input images of a run: files and folders, searched recursively."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path, PurePosixPath

from mamcli.errors import InputError
from mamcli.imaging.read import IMAGE_EXTENSIONS, extension_list
from mamcli.imaging.write import OUTPUT_MARKER
from mamcli.results import ImageItem


def find_images(
    inputs: Iterable[Path], glob: str | None = None, exclude: Iterable[Path] = ()
) -> list[ImageItem]:
    """List the images in `inputs` (files and folders, searched recursively).

    Folders yield files with a known image extension (case-insensitive) whose path
    relative to the folder matches `glob` (see `glob_matches`); hidden files and folders
    (name starting with '.'), output folders of earlier runs and anything inside `exclude`
    (e.g. the output folder) are skipped; file symlinks are followed (a broken or looping
    one fails as that image), folder symlinks are not (no endless walk). A file named
    directly is always taken if its extension is an image one. The same file reached twice
    is listed once.
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
        elif given.exists():
            raise InputError(given, "not a regular file or folder (a pipe, socket or device)")
        else:
            raise InputError(given, "no such file or folder")
        for item in found:
            key = Path(os.path.realpath(item.path))  # never raises on a symlink loop
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
    """Hidden folders, excluded ones, those holding a `.mamignore` file and output folders
    of earlier runs (holding `.mam/output`) are not searched."""
    return (
        folder.name.startswith(".")
        or (folder / IGNORE_MARKER).exists()
        or (folder / OUTPUT_MARKER).is_file()
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
    resolved = Path(os.path.realpath(path))
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


def output_names(
    items: list[ImageItem],
) -> tuple[dict[PurePosixPath, str], list[tuple[ImageItem, str]]]:
    """Output names for inputs whose stem would collide; and the inputs refused.

    Decided from the whole input list (the same on every rank and rerun). In each folder an
    image's outputs take the names `<name>` (its instance folder) and `<name>.<ext>`, and
    every sub-folder with inputs takes its own name, compared case-insensitively (safe on
    case-insensitive file systems). An image keeps its stem unless it is taken twice; then
    it is named by its whole file name ("a.jpg" -> alpha/a.jpg.png), and if that is still
    taken, by the file name plus a hash of it. Two inputs with the same path relative to
    their roots (one file given twice from different folders) cannot both be kept: the
    later is refused. Returns ({rel: name} for renamed inputs only, refused).
    """
    first: dict[PurePosixPath, ImageItem] = {}
    refused = []
    for item in items:
        if item.rel in first:
            problem = f"same path as {first[item.rel].path} (relative to its input folder)"
            refused.append((item, f"{problem}; rename one of them"))
        else:
            first[item.rel] = item
    rels = list(first)
    folders = {
        (str(parent.parent).casefold(), parent.name.casefold())
        for rel in rels
        for parent in rel.parents
        if parent.name
    }

    def taken(candidates: dict[PurePosixPath, str]) -> set[PurePosixPath]:
        owners: dict[tuple[str, str], set[PurePosixPath]] = {}
        for rel, name in candidates.items():
            for occupied in _occupied(name):
                owners.setdefault((str(rel.parent).casefold(), occupied), set()).add(rel)
        return {
            rel
            for key, owned in owners.items()
            if len(owned) > 1 or key in folders
            for rel in owned
        }

    names = {rel: rel.stem for rel in rels}
    for rename in (lambda rel: rel.name, _hashed_name):
        for rel in taken(names):
            names[rel] = rename(rel)
    for rel in taken(names):  # a hash collision: never overwrite another image's outputs
        refused.append((first[rel], "its output names collide with another input's"))
        del names[rel]
    return {rel: name for rel, name in names.items() if name != rel.stem}, refused


_OUTPUT_SUFFIXES = ("", ".png", ".jpg", ".webp", ".json")


def _occupied(name: str) -> list[str]:
    """The names an image called `name` takes in its output folders (case-folded)."""
    return [f"{name}{suffix}".casefold() for suffix in _OUTPUT_SUFFIXES]


def _hashed_name(rel: PurePosixPath) -> str:
    return f"{rel.name}-{hashlib.sha256(rel.name.encode()).hexdigest()[:8]}"
