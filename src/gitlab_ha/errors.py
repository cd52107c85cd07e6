"""Errors shared by every package.

`InputError` is bad input from the user (a file, a field, an argument). The CLI turns it into a
one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Bad input; `where` names the file, line, node or field at fault."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message
