"""Finding alpha mattes, trimaps and images for evaluation (imaging.read decodes them).

Files are matched across folders by their path relative to the root without the extension,
so `gt/sub/a.png` pairs with `pred/sub/a.jpg`.
"""

from __future__ import annotations

from pathlib import Path

from mamcli.errors import UsageError
from mamcli.imaging.read import is_image_file


def existing_dir(path: str | Path, what: str) -> Path:
    """`path` as a Path; UsageError naming it when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"{path}: {what} folder not found")
    return path


def stem_key(rel: Path) -> str:
    """The matching key of a relative path: POSIX path without the extension."""
    return rel.with_suffix("").as_posix()


def index_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Map stem key -> file for every image under `root` (recursive).

    Returns the map and the keys that are ambiguous (two files with the same stem, such
    as `a.png` and `a.jpg`); ambiguous keys are left out of the map.
    """
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image_file(path):
            found.setdefault(stem_key(path.relative_to(root)), []).append(path)
    ambiguous = sorted(key for key, paths in found.items() if len(paths) > 1)
    return {key: paths[0] for key, paths in found.items() if len(paths) == 1}, ambiguous


def index_instance_dirs(root: Path) -> dict[str, list[Path]]:
    """Map folder key -> its instance alpha files, for every folder under `root` that
    directly holds images (one folder per image, one file per instance)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image_file(path):
            found.setdefault(path.parent.relative_to(root).as_posix(), []).append(path)
    return found
