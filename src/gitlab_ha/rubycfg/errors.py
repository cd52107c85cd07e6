"""The one error the Ruby parser raises."""

from __future__ import annotations

from gitlab_ha.errors import InputError

__all__ = ["RubySyntaxError"]


class RubySyntaxError(InputError):
    """A gitlab.rb that is not valid Ruby (or uses Ruby this parser does not read).

    `str(error)` is `file:line:column: message`; the parts are also attributes. Lines and columns
    are 1-based; columns count characters, not bytes.
    """

    def __init__(self, message: str, file: str, line: int, column: int) -> None:
        super().__init__(message, f"{file}:{line}:{column}")
        self.file = file
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[type[RubySyntaxError], tuple[str, str, int, int]]:
        return (RubySyntaxError, (self.message, self.file, self.line, self.column))
