"""Options models and their validation errors.

:class:`Options` is the base of every configuration section (the core's and
the plugins'): unknown keys are refused, defaults are validated, and a
validated section is frozen.  :func:`validate` turns pydantic's errors into
lines that name the key by its dotted path and suggest the key that was meant
(``clustering.trimming.fcut: unknown key. Did you mean 'f_cut'?``).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError


class Options(BaseModel):
    """Base class of configuration sections: strict keys, validated defaults, frozen values.

    A plugin declares its section by returning a subclass from the
    ``jetflow_options`` hook; the section is named after the plugin.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)

    former_names: ClassVar[tuple[str, ...]] = ()
    """Names this section had before: a config that still uses one is told the new name."""


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Union-with-None and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """Valid keys at ``loc`` inside ``model`` (for 'did you mean' hints)."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                field = next((f for f in current.model_fields.values() if f.alias == part), None)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def format_validation_error(exc: ValidationError, prefix: str, model: Any) -> list[str]:
    """One line per error of ``exc``: the key's dotted path under ``prefix``, what is wrong, the value."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        path = path.lstrip(".")
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            lines.append(f"{path}: unknown key.{hint} Valid keys here: {', '.join(valid)}.")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict) else "a mapping"
            lines.append(f"{path}: {err['msg']} (got {shown})")
    return lines


def validate(model: type[BaseModel], data: Any, prefix: str, errors: list[str]) -> Any:
    """``model`` validated from ``data`` (``None``: all defaults); on failure, append the error lines and return None."""
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        errors.extend(format_validation_error(exc, prefix, model))
        return None


def unknown_key_hint(key: str, known: typing.Iterable[str], renamed: dict[str, str] | None = None) -> str:
    """`` Did you mean 'x'?`` for a key that is not known (a renamed key first), or ''."""
    if renamed and key in renamed:
        return f" Did you mean {renamed[key]!r}? ({key!r} was renamed)"
    close = difflib.get_close_matches(str(key), sorted(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
