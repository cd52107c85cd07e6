"""GitLab versions: parsing and the supported range.

What differs between versions is the renderer's business (`render/features.py`); this module only
says whether a version string is well formed and supported.
"""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import AfterValidator

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


def check_supported(text: str) -> str:
    version = parse_version(text)
    if version < OLDEST or version.major > NEWEST_MAJOR:
        raise ValueError(
            f"GitLab {version} is not supported (supported: {'.'.join(map(str, OLDEST))} to {NEWEST_MAJOR}.x)"
        )
    return str(version)


GitLabVersion = Annotated[str, AfterValidator(check_supported)]
