"""One home per option: a config field declares its default, help, choices, checks and
whether it changes the outputs; the CLI, validation and the resume fingerprint are
computed from those declarations (docs/architecture.md, "How to add an option").

This module imports nothing heavy, so options are checked before torch is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from mamcli.errors import UsageError


class Resume(str, Enum):
    """How a field takes part in the resume fingerprint."""

    HASHED = "hashed"  # changes the outputs: its value is hashed
    SPEED = "speed"  # speed or device only: outputs stay the same, never hashed
    RUN = "run"  # how the run behaves (paths, overwrite, reporting): not an output setting
    IDENTITY = "identity"  # hashed by content elsewhere (checkpoints, prompt files)
    GROUP = "group"  # a nested config whose own fields are declared


Choices = Sequence[str] | Callable[[], Sequence[str]]


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    resume: Resume = Resume.HASHED,
    flag: str | None = None,
    short: str | None = None,
    choices: Choices | None = None,
    check: Callable[[Any], str | None] | None = None,
    panel: str | None = None,
    metavar: str | None = None,
    factory: Callable[[], Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    cli: bool = True,
    required: bool = False,
) -> Any:
    """A dataclass field with its declaration in `metadata`.

    flag: the CLI flag (default: --field-name); short: e.g. "-o"; choices: allowed values
    (or a function returning them, read from a registry); check: returns a problem text
    or None; panel: the help section; parse: turns the flag's text into the value (the
    flag then takes text, e.g. "10,20,10"); cli=False: library-only; required: the
    flag must be given (the library keeps the default).
    """
    meta = {
        "help": help,
        "resume": Resume(resume),
        "flag": flag,
        "short": short,
        "choices": choices,
        "check": check,
        "panel": panel,
        "metavar": metavar,
        "parse": parse,
        "cli": cli,
        "required": required,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def group(factory: Callable[[], Any], help: str, resume: Resume = Resume.GROUP) -> Any:
    """A nested config (its own fields are declared with `option`)."""
    meta = {"help": help, "resume": Resume(resume), "cli": False}
    return dataclasses.field(default_factory=factory, metadata=meta)


def declared_fields(config_type: type) -> Iterator[dataclasses.Field]:
    """The init fields of a config class (private state fields are left out)."""
    for item in dataclasses.fields(config_type):
        if item.init:
            yield item


def choices_of(item: dataclasses.Field) -> tuple[str, ...] | None:
    found = item.metadata.get("choices")
    if found is None:
        return None
    return tuple(found() if callable(found) else found)


def flag_of(item: dataclasses.Field) -> str:
    return item.metadata.get("flag") or "--" + item.name.replace("_", "-")


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_choice(flag: str, value: str, choices: Sequence[str]) -> None:
    """Raise one clear UsageError line when `value` is not one of `choices`."""
    if value not in choices:
        raise UsageError(
            f"{flag}: unknown value {value!r}; choose one of {', '.join(choices)}"
            + did_you_mean(value, choices)
        )


def validate(config: Any) -> None:
    """Check every declared field (choices, checks) of `config` and its nested configs.
    A problem names the field's flag, or for a library-only field `Config.field`."""
    for item in declared_fields(type(config)):
        value = getattr(config, item.name)
        if item.metadata.get("resume") == Resume.GROUP:
            validate(value)
            continue
        if value is None:
            continue
        name = flag_of(item) if item.metadata.get("cli", True) else _field_name(config, item)
        choices = choices_of(item)
        values = value if isinstance(value, (tuple, list)) else [value]
        if choices is not None:
            for one in values:
                check_choice(name, str(one), choices)
        check = item.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise UsageError(f"{name}: {problem}")


def _field_name(config: Any, item: dataclasses.Field) -> str:
    return f"{type(config).__name__}.{item.name}"


def hashed_settings(config: Any) -> dict[str, Any]:
    """Every output-changing field of `config`, nested configs included, as plain JSON."""
    settings: dict[str, Any] = {}
    for item in declared_fields(type(config)):
        kind = item.metadata.get("resume")
        value = getattr(config, item.name)
        if kind == Resume.GROUP:
            settings[item.name] = hashed_settings(value)
        elif kind == Resume.HASHED:
            settings[item.name] = _plain(value)
    return settings


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def int_list(count: int) -> Callable[[str], tuple[int, ...]]:
    """A parser for 'a,b,c' -> (a, b, c) with exactly `count` whole numbers."""

    def parse(text: str) -> tuple[int, ...]:
        parts = [p.strip() for p in str(text).split(",") if p.strip()]
        try:
            values = tuple(int(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != count:
            raise UsageError(f"expected {count} comma-separated whole numbers, got {text!r}")
        return values

    return parse


def name_list(text: str) -> tuple[str, ...]:
    """A parser for 'a, b,,c' -> ('a', 'b', 'c')."""
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def at_least(minimum: float) -> Callable[[Any], str | None]:
    """A check: the value is >= minimum."""

    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {minimum:g}, got {value}"

    return check


def between(low: float, high: float) -> Callable[[Any], str | None]:
    """A check: low <= value <= high."""

    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be in [{low:g}, {high:g}], got {value}"

    return check
