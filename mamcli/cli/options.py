"""CLI flags generated from config declarations (`mamcli.options.option`).

`config_params(MatteConfig)` turns every declared field (nested configs included) into a
Typer option with its flag, default, help, choices and help panel; `build_config` puts
the parsed values back into the config objects. Nothing about an option is written here.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from mamcli.errors import UsageError
from mamcli.options import Resume, choices_of, declared_fields, flag_of


@dataclasses.dataclass(frozen=True)
class Param:
    """One generated CLI parameter: where its value goes in the config tree."""

    name: str
    path: tuple[str, ...]
    parameter: inspect.Parameter
    parse: Callable[[str], Any] | None


def _cli_type(hint: Any) -> Any:
    """The type Typer parses: `X | None` stays optional; a union with `str` (a field that
    also takes library objects, e.g. a WeightSpec) is text on the command line."""
    args = typing.get_args(hint)
    if str in args and len(set(args) - {type(None)}) > 1:
        return typing.Optional[str] if type(None) in args else str  # noqa: UP045
    if type(None) in args:
        return typing.Optional[next(a for a in args if a is not type(None))]  # noqa: UP045
    return hint


# The help panels of a command, in this order (options of other panels come after).
PANELS = ("Inputs", "Prompts", "Engine", "Outputs", "Performance", "Run")


def _help(item: dataclasses.Field) -> str:
    text = item.metadata["help"]
    choices = choices_of(item)
    if choices and item.metadata.get("metavar"):  # else the metavar lists them
        text += f" One of: {', '.join(choices)}."
    return text.replace("[", r"\[")


def _metavar(item: dataclasses.Field, hint: Any) -> str:
    """What help shows for the option's value: no `<bool>`/`<str>` type labels."""
    if item.metadata.get("metavar"):
        return item.metadata["metavar"]
    choices = choices_of(item)
    if choices:
        return "|".join(choices)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    labels = {bool: "", int: "N", float: "X"}
    return labels.get(base, "PATH" if base is Path else "TEXT")


def _default_text(value: Any) -> Any:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return value


def _field_default(item: dataclasses.Field) -> Any:
    """A field's default; `...` for a required one."""
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return ...


def config_params(config_type: type, path: tuple[str, ...] = ()) -> list[Param]:
    """Every CLI-visible declared field of `config_type`, nested configs included."""
    params: list[Param] = []
    hints = typing.get_type_hints(config_type)
    for item in declared_fields(config_type):
        meta = item.metadata
        if meta.get("resume") == Resume.GROUP:
            params += config_params(type(_field_default(item)), (*path, item.name))
            continue
        if not meta.get("cli", True):
            continue
        default = _field_default(item)
        parse = meta.get("parse")
        hint = _cli_type(hints[item.name])
        if parse is not None:  # the flag takes text (each text, for a repeatable flag)
            hint = list[str] if typing.get_origin(hint) is list else str
        flag = flag_of(item)
        # An off-by-default switch is just --flag; an on-by-default one also has --no-flag.
        names = [f"{flag}/--no-{flag[2:]}"] if hint is bool and default else [flag]
        if meta.get("short"):
            names.append(meta["short"])
        option = typer.Option(
            ... if meta.get("required") else (_default_text(default) if parse else default),
            *names,
            help=_help(item),
            rich_help_panel=meta.get("panel"),
            metavar=_metavar(item, hint),
            show_default=default not in (None, False, [], ...),
        )
        name = "__".join((*path, item.name))
        parameter = inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=hint
        )
        params.append(Param(name, (*path, item.name), parameter, parse))
    return params


def config_argument(config_type: type, name: str) -> inspect.Parameter:
    """The positional CLI argument of a `cli=False` field: its help and metavar come from
    the field's declaration."""
    item = next(f for f in declared_fields(config_type) if f.name == name)
    hint = _cli_type(typing.get_type_hints(config_type)[name])
    argument = typer.Argument(..., metavar=item.metadata.get("metavar"), help=_help(item))
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=argument, annotation=hint
    )


def ordered(params: list[Param]) -> list[Param]:
    """`params` sorted by help panel (`PANELS` order), declaration order within a panel."""

    def rank(param: Param) -> int:
        panel = param.parameter.default.rich_help_panel
        return PANELS.index(panel) if panel in PANELS else len(PANELS)

    return sorted(params, key=rank)


def build_config(config_type: type, params: list[Param], values: dict[str, Any], **extra: Any):
    """A `config_type` built from parsed CLI `values` (nested configs rebuilt too)."""
    tree: dict[str, Any] = dict(extra)
    for param in params:
        value = values[param.name]
        if param.parse is not None:
            try:
                if isinstance(value, str):
                    value = param.parse(value)
                elif isinstance(value, (list, tuple)):
                    value = [param.parse(v) if isinstance(v, str) else v for v in value]
            except UsageError as error:
                raise UsageError(f"{param.parameter.default.param_decls[0]}: {error}") from None
        node = tree
        for key in param.path[:-1]:
            node = node.setdefault(key, {})
        node[param.path[-1]] = value
    return _instantiate(config_type, tree)


def _instantiate(config_type: type, tree: dict[str, Any]) -> Any:
    kwargs = {}
    for item in declared_fields(config_type):
        if item.name not in tree:
            continue
        value = tree[item.name]
        if item.metadata.get("resume") == Resume.GROUP:
            value = _instantiate(type(_field_default(item)), value)
        kwargs[item.name] = value
    return config_type(**kwargs)


def with_params(
    function: Callable[..., Any], params: list[Param], leading: list[inspect.Parameter]
) -> Callable[..., Any]:
    """`function(**values)` with a signature Typer reads: `leading` then the config flags."""
    signature = inspect.Signature([*leading, *(p.parameter for p in params)])
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return function
