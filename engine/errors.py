"""Typed engine errors: each carries the file, the problem and, where known, what to do."""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base of every error the engine raises on purpose.

    The message is one line a person can act on; ``path`` names the file involved,
    ``node`` the graph node when there is one, ``hint`` what to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        node: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else Path(path)
        self.node = node
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        if self.node:
            text += f" (node {self.node})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class FormatError(EngineError):
    """A file is not what it claims to be: empty, truncated, wrong kind, corrupt."""


class UnsupportedOpError(EngineError):
    """A graph uses an operator the converter has no rule for."""


class BindingError(EngineError):
    """A parameter set does not fit a graph (missing, unexpected or mis-shaped tensors)."""

    def __init__(self, message: str, *, report: object = None, **kwargs: object) -> None:
        self.report = report
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class OutputPathError(EngineError):
    """An output path would overwrite an input, or cannot be written."""


class TargetError(EngineError):
    """A target is unknown or not available on this machine."""


class InputError(EngineError):
    """Inputs given for a run do not match the model (names, shapes, dtypes)."""


class Cancelled(EngineError):
    """The caller cancelled a job through its cancel check."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
