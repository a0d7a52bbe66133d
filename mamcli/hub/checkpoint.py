"""Load and save torch checkpoints safely, with one-line errors for bad files.

Checkpoints are always read with ``weights_only=True``: a file that needs arbitrary Python
objects to unpickle is refused, because unpickling those can run code from the file.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from mamcli.errors import InputError
from mamcli.runtime.atomic import atomic_open

# How a file written by torch.save begins: a zip archive (torch >= 1.6) or a pickle (legacy).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_MAGIC = b"\x80"
_NESTED_KEYS = ("state_dict", "model")
_PREFIX = "module."
_SHOWN = 3  # mismatches named in a layout error


def load_state_dict(
    path: str | os.PathLike, *, what: str = "checkpoint", mmap: bool = False
) -> dict[str, torch.Tensor]:
    """Read the tensors of a checkpoint file onto the CPU.

    Accepts a raw state dict or a dict holding it under "state_dict" or "model", and
    strips the "module." prefix that DataParallel training adds to keys. With `mmap` the
    tensors of a zip checkpoint are mapped from the file instead of read (pages are read
    when first used, so weights never used are never read); legacy files are read.
    """
    path = Path(path)
    zipped = _check_header(path, what)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipped)
    except pickle.UnpicklingError as exc:
        raise InputError(path, _unpickling_problem(str(exc), what)) from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise InputError(path, f"truncated or corrupted {what} ({_first_sentence(exc)})") from None
    return _tensors(path, loaded, what)


def check_state_dict(
    path: str | os.PathLike,
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, Sequence[int]],
) -> None:
    """Raise InputError naming `path` unless `state` has exactly the keys and shapes expected."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    wrong = [
        f"{key}: expected {tuple(shape)} got {tuple(state[key].shape)}"
        for key, shape in expected.items()
        if key in state and tuple(state[key].shape) != tuple(shape)
    ]
    parts = [
        _listing(f"missing key{'s' * (len(missing) != 1)}", missing),
        _listing(f"unexpected key{'s' * (len(unexpected) != 1)}", unexpected),
        _listing(f"shape mismatch{'es' * (len(wrong) != 1)}", wrong),
    ]
    problems = [part for part in parts if part]
    if problems:
        raise InputError(path, "state dict does not fit the model: " + "; ".join(problems))


def save_checkpoint(
    path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], **extra
) -> None:
    """Write ``{"state_dict": state_dict, **extra}`` atomically (never a half-written file)."""
    with atomic_open(path, "wb") as handle:
        torch.save({"state_dict": dict(state_dict), **extra}, handle)


def _check_header(path: Path, what: str) -> bool:
    """Reject missing, empty and non-torch files before torch.load produces a cryptic error.
    True for a zip checkpoint (torch >= 1.6), False for a legacy pickle."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_ZIP_MAGIC))
    except FileNotFoundError:
        raise InputError(path, f"{what} file not found") from None
    except IsADirectoryError:
        raise InputError(path, f"is a folder ({what} file expected)") from None
    if not head:
        raise InputError(path, f"empty file ({what} expected)")
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_MAGIC)):
        raise InputError(path, f"not a PyTorch checkpoint file ({what} expected)")
    return head.startswith(_ZIP_MAGIC)


def _unpickling_problem(message: str, what: str) -> str:
    """Say why weights_only refused the pickle: foreign objects, or data it cannot read."""
    found = re.search(r"GLOBAL (\S+)", message)
    if found:
        return (
            f"{what} contains arbitrary Python objects ({found.group(1)}); "
            "refused for safety (checkpoints are loaded with weights_only=True)"
        )
    return f"not a PyTorch checkpoint, or one weights_only loading refuses ({what} expected)"


def _tensors(path: Path, loaded: object, what: str) -> dict[str, torch.Tensor]:
    """Find the state dict inside what torch.load returned and check it holds only tensors."""
    if isinstance(loaded, dict):
        for key in _NESTED_KEYS:
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict):
        raise InputError(
            path, f"holds a {type(loaded).__name__}, not a state dict ({what} expected)"
        )
    state = {}
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise InputError(
                path, f"entry {key!r} is {type(value).__name__}, not a tensor ({what} expected)"
            )
        state[key.removeprefix(_PREFIX)] = value
    return state


def _listing(label: str, items: list[str]) -> str:
    """'2 missing keys (a, b)' with at most a few names shown."""
    if not items:
        return ""
    shown = ", ".join(items[:_SHOWN])
    more = f", and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"{len(items)} {label} ({shown}{more})"


def _first_sentence(exc: BaseException) -> str:
    """The first sentence of an exception message, or its type when the message is empty."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0].rstrip(".")
