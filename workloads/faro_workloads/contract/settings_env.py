"""``FARO_*`` environment variables named from the settings model itself, so that whoever writes them (the
operator's settings ConfigMap) can only name settings that exist: a renamed or misspelt field fails where
the variables are built, not silently in a pod that ignores an unknown variable."""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from faro_workloads.contract.secret_files import SECRETS_DIR_VARIABLE
from faro_workloads.contract.settings import FaroSettings

PREFIX = "FARO_"
NESTED_DELIMITER = "__"


def settings_environment(values: Mapping[str, Any]) -> dict[str, str]:
    """``{"collection": {"name": "docs"}, "pipeline": "p"}`` -> ``{"FARO_COLLECTION__NAME": "docs",
    "FARO_PIPELINE": "p"}``, sorted by name; None values are left out (the setting keeps its default).
    Raises ValueError for a name :class:`FaroSettings` does not have."""
    environment: dict[str, str] = {}
    _collect(FaroSettings, values, (), environment)
    return dict(sorted(environment.items()))


def _collect(
    model: type[BaseModel], values: Mapping[str, Any], path: tuple[str, ...], out: dict[str, str]
) -> None:
    for name, value in values.items():
        field = model.model_fields.get(name)
        where = (*path, name)
        if field is None:
            raise ValueError(f"{model.__name__} has no setting {'.'.join(where)!r}")
        if isinstance(value, Mapping) and not _is_mapping(field.annotation):
            _collect(_model_of(field.annotation, ".".join(where)), value, where, out)
        elif value is not None:
            out[PREFIX + NESTED_DELIMITER.join(where).upper()] = _text(value)


def _is_mapping(annotation: Any) -> bool:
    """Whether a field holds a mapping of values (``dict[str, str]``), set as one JSON variable."""
    return typing.get_origin(annotation) is dict


def _model_of(annotation: Any, where: str) -> type[BaseModel]:
    """The settings model a nested field holds (``S3Config | None`` -> ``S3Config``)."""
    model = _group_model(annotation)
    if model is None:
        raise ValueError(f"setting {where!r} is a value, not a group of settings")
    return model


def _group_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field's annotation holds, if it is a group of settings (``FARO_GROUP__FIELD``)."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))  # how pydantic-settings reads a list from one variable
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)  # and a mapping
    return str(value)


def unknown_variables(environ: Mapping[str, str], also_known: Iterable[str] = ()) -> list[str]:
    """One line for each ``FARO_*`` variable in ``environ`` that names no setting (nor is one of
    ``also_known``, variables read elsewhere), with the setting it most resembles: ``FARO_COLECTION__NAME``
    would otherwise be ignored without a word (pydantic-settings skips variables it has no field for; a
    wrong name inside a group, ``FARO_COLLECTION__NAEM``, is already refused by that group's model)."""
    known = {SECRETS_DIR_VARIABLE, *also_known}
    sections, values = [], []
    for name, field in FaroSettings.model_fields.items():
        variable = PREFIX + name.upper()
        if _group_model(field.annotation) is not None:
            sections.append(variable + NESTED_DELIMITER)
        else:
            values.append(variable)
    lines = []
    for variable in sorted(environ):
        if not variable.startswith(PREFIX) or variable in known or variable in values:
            continue
        if any(variable.startswith(section) for section in sections):
            continue
        group, nested, _ = variable.partition(NESTED_DELIMITER)
        head = group + nested
        close = difflib.get_close_matches(head, [*sections, *values, *known], n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}{variable[len(head) :]}?)" if close else ""
        lines.append(f"{variable} is not a Faro setting and is ignored{hint}")
    return lines
