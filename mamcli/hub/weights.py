"""Known checkpoints, where they are cached, and how to download them safely.

A download goes to a temporary name beside its final place, is verified (sha256 when the
registry knows it, else "loads as a checkpoint"), and only then is renamed into the
cache, so a failed, corrupted or interrupted download never leaves a file that looks
cached. Nothing here downloads implicitly: `resolve_checkpoint` only finds files.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from mamcli.errors import InputError, MamError, NetworkError
from mamcli.hub.fetch import TransferFailed, Unreachable, fetch
from mamcli.hub.progress import Meter, meter

if TYPE_CHECKING:
    from mamcli.hub.config import DownloadConfig

KINDS = ("sam", "m2m")
_CHECKPOINT_FLAGS = {"sam": "--sam-checkpoint", "m2m": "--m2m-checkpoint"}
_SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
_MAM_HF = "hf://zhengchong/Human-Toolkit/MAM/"


@dataclass(frozen=True)
class WeightSpec:
    """One downloadable checkpoint.

    `urls` are tried in order (http(s)://, file:// or hf://OWNER/REPO/PATH). `sha256` is the
    file's full hash, or None when no trustworthy hash is known ("unverified").
    """

    name: str
    kind: str  # "sam" (a SAM backbone) or "m2m" (a Mask-to-Matte refiner)
    model: str  # backbone: vit_b, vit_l, vit_h or vit_t
    filename: str
    urls: tuple[str, ...]
    sha256: str | None = None
    size: int | None = None  # bytes, for display only

    @property
    def verified(self) -> bool:
        return self.sha256 is not None


# The 6 hex digits in the SAM file names are MD5 prefixes (01ec64d2..., 0b319550..., 4b8939a8...),
# not sha256 prefixes; the full sha256 of each release file is checked instead.
REGISTRY: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "sam_vit_b",
            "sam",
            "vit_b",
            "sam_vit_b_01ec64.pth",
            (_SAM_URL + "sam_vit_b_01ec64.pth", _MAM_HF + "sam_vit_b_01ec64.pth"),
            "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
            375_042_383,
        ),
        WeightSpec(
            "sam_vit_l",
            "sam",
            "vit_l",
            "sam_vit_l_0b3195.pth",
            (_SAM_URL + "sam_vit_l_0b3195.pth",),
            "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
            1_249_524_607,
        ),
        WeightSpec(
            "sam_vit_h",
            "sam",
            "vit_h",
            "sam_vit_h_4b8939.pth",
            (_SAM_URL + "sam_vit_h_4b8939.pth",),
            "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
            2_564_550_879,
        ),
        WeightSpec(
            "mobile_sam_vit_t",
            "sam",
            "vit_t",
            "mobile_sam.pt",
            ("https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",),
            "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
            40_728_226,
        ),
        WeightSpec("mam_vit_b", "m2m", "vit_b", "mam_vitb.pth", (_MAM_HF + "mam_vitb.pth",)),
    )
}


def get_weight(name: str) -> WeightSpec:
    """The registry entry called `name`; a MamError lists the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise MamError(f"unknown checkpoint {name}{hint}; known: {', '.join(REGISTRY)}") from None


def cache_dir() -> Path:
    """The mam cache folder: $MAM_HOME if set, else the platform's user cache folder."""
    home = os.environ.get("MAM_HOME")
    return (
        Path(home).expanduser()
        if home
        else Path(platformdirs.user_cache_dir("mam", appauthor=False))
    )


def cached_path(spec: WeightSpec | str) -> Path:
    """Where the checkpoint lives once downloaded (whether or not it is there now)."""
    spec = _spec(spec)
    return cache_dir() / "checkpoints" / spec.filename


def sources(spec: WeightSpec | str, url: str | None = None) -> list[str]:
    """Where to download from: `url`, else $MAM_WEIGHTS_URL_<NAME>, else $MAM_MIRROR/<filename>,
    else the registry's URLs."""
    spec = _spec(spec)
    override = url or os.environ.get(f"MAM_WEIGHTS_URL_{spec.name.upper()}")
    if override:
        return [override]
    mirror = os.environ.get("MAM_MIRROR")
    if mirror:
        return [f"{mirror.rstrip('/')}/{spec.filename}"]
    return list(spec.urls)


def download(config: DownloadConfig) -> Path:
    """Download `config.checkpoint` into the cache (unless already there) and return its path.

    Sources are tried in order until one delivers; none is retried, and a host that cannot
    be contacted is given up on at once. A file whose hash does not match is deleted and
    reported at once (MamError). A progress bar is drawn on stderr when it is a terminal
    and the config is not quiet. Raises NetworkError (exit code 4), one line saying how to
    work offline, when no source delivers.
    """
    spec = _spec(config.checkpoint)
    target = cached_path(spec)
    if target.is_file() and not config.force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    unreachable: list[Unreachable] = []
    failures: list[str] = []
    with meter(spec.filename, not config.quiet) as bar:
        for source in sources(spec, config.url):
            try:
                _fetch_verified(spec, source, target, bar)
            except Unreachable as exc:
                unreachable.append(exc)
            except TransferFailed as exc:
                failures.append(str(exc))
            else:
                return target
    problems = "; ".join(_unreachable_lines(unreachable) + failures)
    raise NetworkError(
        f"{problems}: download {spec.filename} elsewhere and pass "
        f"{_CHECKPOINT_FLAGS[spec.kind]} FILE, or set MAM_MIRROR / --url"
    )


def resolve_checkpoint(kind: str, model: str, explicit: str | os.PathLike | None) -> Path | None:
    """The checkpoint to use: `explicit` when given (it must exist), else the cached file
    for this kind and backbone, else None. Never downloads."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind}")
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InputError(path, "checkpoint file not found")
        return path
    for spec in REGISTRY.values():
        if spec.kind == kind and spec.model == model and cached_path(spec).is_file():
            return cached_path(spec)
    return None


def find_weights(
    model: str,
    *,
    sam_checkpoint: str | os.PathLike | None = None,
    m2m_checkpoint: str | os.PathLike | None = None,
) -> tuple[Path | None, Path | None]:
    """(SAM path, M2M path) for a backbone, explicit paths first; None where not available."""
    return (
        resolve_checkpoint("sam", model, sam_checkpoint),
        resolve_checkpoint("m2m", model, m2m_checkpoint),
    )


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _spec(spec: WeightSpec | str) -> WeightSpec:
    return spec if isinstance(spec, WeightSpec) else get_weight(spec)


def _unreachable_lines(errors: list[Unreachable]) -> list[str]:
    """'cannot reach a, b (reason)' once per reason, hosts in the order they were tried."""
    hosts: dict[str, list[str]] = {}
    for error in errors:
        if error.host not in hosts.setdefault(error.reason, []):
            hosts[error.reason].append(error.host)
    return [f"cannot reach {', '.join(names)} ({reason})" for reason, names in hosts.items()]


def _fetch_verified(spec: WeightSpec, source: str, target: Path, bar: Meter) -> None:
    """Download `source` to a temporary sibling of `target`, verify it, then rename it."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.download")
    try:
        fetch(source, tmp, bar)
        _verify(spec, source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _verify(spec: WeightSpec, source: str, path: Path) -> None:
    """Check the full sha256 when known; otherwise check the file loads as a checkpoint
    (which catches a file cut short by a server that sends no Content-Length)."""
    if spec.sha256 is not None:
        actual = sha256_of(path)
        if actual != spec.sha256:
            raise MamError(
                f"{spec.filename} from {source} has the wrong sha256 (expected {spec.sha256}, "
                f"got {actual}); the download was deleted"
            )
        return
    from mamcli.hub.checkpoint import load_state_dict  # imports torch

    try:
        load_state_dict(path, what=f"{spec.kind.upper()} checkpoint")
    except InputError as exc:
        raise MamError(
            f"{spec.filename} from {source} is incomplete or not a checkpoint ({exc.problem}); "
            "the download was deleted"
        ) from None
