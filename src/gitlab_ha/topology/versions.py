"""GitLab versions: parsing, the supported range, and the pydantic type the model carries.

What differs between versions lives in `features.py`; this module only says whether a version
string is well formed and supported.
"""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, PlainSerializer

from gitlab_ha.errors import InputError

OLDEST = (16, 0, 0)
NEWEST_MAJOR = 19  # newest release we have reference data for is 19.3


class Version(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:-(?:ee|ce)(?:\.\d+)?)?$")


def parse_version(text: str) -> Version:
    """'16.6.0', '16.6', '16.6.0-ee' → Version; ValueError with the reason otherwise."""
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a GitLab version like 16.6.0")
    major, minor, patch = (int(part) if part else 0 for part in match.groups())
    return Version(major, minor, patch)


def check_supported(text: str | Version) -> Version:
    version = text if isinstance(text, Version) else parse_version(text)
    if version < OLDEST or version.major > NEWEST_MAJOR:
        raise ValueError(
            f"GitLab {version} is not supported (supported: {'.'.join(map(str, OLDEST))} to {NEWEST_MAJOR}.x)"
        )
    return version


def version_option(text: str | None, where: str = "--version") -> Version | None:
    """A `--version` option: the supported release it names, None when not given; InputError otherwise."""
    if text is None:
        return None
    try:
        return check_supported(text)
    except ValueError as err:
        raise InputError(str(err), where) from None


def _supported(value: object) -> Version:
    if isinstance(value, Version):
        return check_supported(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # YAML reads `version: 16.10` as the number 16.1: never guess, ask for a string.
        raise ValueError(f"write the version as a string ('{value}.0' in quotes): YAML reads 16.10 as 16.1")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a GitLab version like 16.6.0")
    return check_supported(value)


# The model carries a parsed Version (compared as a tuple), written back as its text.
GitLabVersion = Annotated[Version, BeforeValidator(_supported), PlainSerializer(str, return_type=str)]
