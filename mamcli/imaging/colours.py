"""Colour names and `--background` values, checked before any image work."""

from __future__ import annotations

import re
from pathlib import Path

COLOURS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
}


def parse_colour(spec: str) -> tuple[int, int, int] | None:
    """RGB from "white", "#00ff00", "#0f0" or "0,255,0"; None if `spec` is no colour."""
    text = spec.strip().lower()
    if text in COLOURS:
        return COLOURS[text]
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return tuple(int(c * 2, 16) for c in text[1:])
    parts = text.split(",")
    if len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)
    return None


def check_background(spec: str) -> str | None:
    """None when `spec` is a colour, an existing image file or folder; else the problem."""
    if parse_colour(spec) is not None or Path(spec).exists():
        return None
    names = ", ".join(sorted(COLOURS))
    return f"{spec!r} is no colour ({names}, #rrggbb, r,g,b) and no image file or folder"
