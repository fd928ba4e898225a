"""CLI flags derived from settings dataclasses, so that flags, defaults and help are declared once.

A field becomes a flag when its ``metadata`` has ``help`` (see
:func:`bflc.settings.setting`): ``--name-with-dashes`` (or ``metadata["flag"]``),
typed from its annotation, with the dataclass's default.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import types
import typing
from typing import Any

from bflc.errors import ConfigError


def _flag_type(annotation: Any) -> type | None:
    """``int``, ``float`` or ``str`` for a field's annotation (``X | None`` gives ``X``); ``None`` for ``bool``."""
    if isinstance(annotation, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if annotation is bool:
        return None
    if annotation not in (int, float, str):
        raise TypeError(f"no CLI flag for a field of type {annotation}")
    return annotation  # type: ignore[no-any-return]


def add_settings_arguments(parser: argparse.ArgumentParser | Any, cls: type, defaults: Any = None) -> list[str]:
    """Add a flag for every field of dataclass ``cls`` that has help text.

    Parameters
    ----------
    parser:
        A parser or argument group.
    cls:
        The settings dataclass.
    defaults:
        An instance whose values are the flags' defaults (default: ``cls()``).

    Returns
    -------
    list[str]
        The field names added (the ``dest`` of each flag).
    """
    defaults = cls() if defaults is None else defaults
    hints = typing.get_type_hints(cls)
    names = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        kind = _flag_type(hints[f.name])
        default = getattr(defaults, f.name)
        if kind is None:
            parser.add_argument(flag, dest=f.name, action="store_true", default=default, help=f.metadata["help"])
        else:
            metavar = {int: "N", float: "X", str: None}[kind]
            extra: dict[str, Any] = {"choices": f.metadata["choices"]} if "choices" in f.metadata else {"metavar": metavar}
            parser.add_argument(flag, dest=f.name, type=kind, default=default, help=f.metadata["help"], **extra)
        names.append(f.name)
    return names


def settings_values(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The parsed values of the flags ``names`` (from :func:`add_settings_arguments`)."""
    return {name: getattr(args, name) for name in names}


def flags_of(*classes: type) -> dict[str, str]:
    """Field name -> its CLI flag, for every field with help text of the dataclasses ``classes``."""
    return {
        f.name: f.metadata.get("flag", "--" + f.name.replace("_", "-"))
        for cls in classes
        for f in dataclasses.fields(cls)
        if "help" in f.metadata
    }


def in_flags(error: ConfigError, flags: dict[str, str]) -> ConfigError:
    """``error`` with the field it names (``invalid ... setting: FIELD ...``) written as its CLI flag.

    The Python API names fields; a CLI user typed flags.
    """
    head, sep, rest = error.message.partition("setting: ")
    name = re.match(r"\w+", rest)
    if not sep or name is None or name.group() not in flags:
        return error
    return ConfigError(head + sep + flags[name.group()] + rest[name.end() :], error.hint)
