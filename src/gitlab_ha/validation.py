"""One way to validate untyped input (a file, a request body, a flag): pydantic models, located errors.

Models state the shape; `validate(model, data, where)` runs one and turns the first error into an
`InputError` that names the place (`consul.d/web.json: watches[0].key`) and says what was wrong in the
project's words ("expected a string, got array"), never pydantic's multi-line report. Validators that
need their own words raise `fail(message, at=...)`; `at` names a field below the model's place.

The scalar types below accept what a JSON, HCL or YAML author writes, no more: a boolean is `true`,
`false`, or those words as strings (HCL and Consul's own files spell them so), never "yes" or 1; a
string is a string, never a list turned into its repr.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from gitlab_ha.errors import InputError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

ERROR_KIND = "gitlab_ha"


def type_name(value: Any) -> str:
    """The JSON name of a value's type, as messages show it."""
    names = {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def fail(message: str, at: str = "") -> PydanticCustomError:
    """An error in our words for a validator to raise; `at` is a sub-location (`interval`, `checks[0]`)."""
    return PydanticCustomError(ERROR_KIND, message, {"at": at} if at else None)


def strict_str(value: Any) -> str:
    if not isinstance(value, str):
        raise fail(f"expected a string, got {type_name(value)}")
    return value


def strict_int(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise fail(f"expected an integer, got {value}")
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise fail(f"expected an integer, got {type_name(value)}")
    return int(value)


def strict_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise fail(f"expected a boolean, got {type_name(value)}")


def str_list(value: Any) -> list[str]:
    """A list of strings (None: empty); the error names the item at fault."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"expected a list of strings, got {type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise fail(f"expected a string, got {type_name(item)}", f"[{i}]")
    return value


def str_map(value: Any) -> dict[str, str]:
    """An object of strings (None: empty); the error names the key at fault."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"expected an object of strings, got {type_name(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise fail(f"expected a string, got {type_name(item)}", f".{key}")
    return {str(k): v for k, v in value.items()}


def as_input_error(rule: Callable[[Any], T]) -> Callable[[Any, str], T]:
    """A rule above as a plain converter `(value, where) -> value` raising InputError at `where`."""

    def convert(value: Any, where: str) -> T:
        try:
            return rule(value)
        except PydanticCustomError as exc:
            raise InputError(exc.message(), where + str((exc.context or {}).get("at", ""))) from None

    return convert


Str = Annotated[str, BeforeValidator(strict_str)]
Int = Annotated[int, BeforeValidator(strict_int)]
Bool = Annotated[bool, BeforeValidator(strict_bool)]
StrList = Annotated[list[str], BeforeValidator(str_list)]
StrMap = Annotated[dict[str, str], BeforeValidator(str_map)]

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "expected a string, got {type}",
    "int_type": "expected an integer, got {type}",
    "int_parsing": "expected an integer, got {type}",
    "int_from_float": "expected an integer, got {type}",
    "bool_type": "expected a boolean, got {type}",
    "bool_parsing": "expected a boolean, got {type}",
    "list_type": "expected a list, got {type}",
    "dict_type": "expected an object, got {type}",
    "model_type": "expected an object, got {type}",
    "model_attributes_type": "expected an object, got {type}",
}


def render_location(parts: Sequence[str | int]) -> str:
    """`('checks', 0, 'interval')` -> `checks[0].interval`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("[", ".")):  # a sub-location a rule gave (`[2]`, `.key`)
            out += part
        else:
            out += f".{part}" if out else part
    return out


def located(exc: ValidationError, where: str, *, sep: str = ".") -> InputError:
    """The first error of `exc` as an InputError at `where`, `sep`, the field's location."""
    return located_error(exc.errors(include_url=False)[0], where, sep=sep)


def located_error(error: ErrorDetails, where: str, *, sep: str = ".") -> InputError:
    """One error of a ValidationError as an InputError at `where`, `sep`, the field's location."""
    parts: list[str | int] = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
    ctx = error.get("ctx") or {}
    if error["type"] == ERROR_KIND:
        message = error["msg"]
        if ctx.get("at"):
            parts.append(str(ctx["at"]))
    elif error["type"] in _MESSAGES:
        message = _MESSAGES[error["type"]].format(type=type_name(error.get("input")))
    elif error["type"] == "literal_error":
        message = f"must be {ctx.get('expected', '')}, got {error.get('input')!r}"
    else:
        message = error["msg"]
    field = render_location(parts)
    if field:
        where = f"{where}{sep}{field}" if where else field
    return InputError(message, where)


def validate(model: type[M], data: Any, where: str, *, sep: str = ".") -> M:
    """`model` validated from `data`; InputError at `where` (and the field) if it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise located(exc, where, sep=sep) from None
