"""What the window can do about an engine error, in place of a hint written for the command line."""

from __future__ import annotations

import re

#: A hint that names a command or a flag is for the CLI; the window says what to do in the window.
_CLI_HINT = re.compile(r"\bdstudio\b|(^|\s)--[a-z]|\s-v\b")


def window_advice(exc: BaseException, hint: str = "") -> str:
    """Advice for a panel or dialog: the window's own action for known errors, else ``hint`` unless it names CLI use.

    Args:
        exc: the error a task raised.
        hint: the engine's hint (``EngineError.hint``).
    """
    from engine.errors import InputError, OutputPathError, TargetError, UnsupportedOpError

    if isinstance(exc, InputError):
        return "set the shapes or choose an input data file in the Inputs panel"
    if isinstance(exc, TargetError) and (not hint or _CLI_HINT.search(hint)):
        return "choose another target in the toolbar (its list says why a target is unavailable)"
    if isinstance(exc, UnsupportedOpError) and (not hint or _CLI_HINT.search(hint)):
        return "the model stays open here; a mindspore target runs the MindIR as it is"
    if isinstance(exc, OutputPathError) and (not hint or _CLI_HINT.search(hint)):
        return "choose another file name (Browse…)"
    return "" if _CLI_HINT.search(hint or "") else (hint or "")


def select_blockers(window, document, exc: BaseException) -> list[str]:
    """For a refusal because nodes could not be lowered, select every such node in ``document``'s graph.

    Args:
        window: the main window (``view_for``).
        document: the document whose run or conversion was refused.
        exc: the error; only UnsupportedOpError selects anything.

    Returns:
        The node ids selected (empty when there is nothing to point at).
    """
    from engine.errors import UnsupportedOpError

    blockers = list(getattr(document.model, "unlowered", None) or []) if document is not None else []
    view = window.view_for(document) if blockers and isinstance(exc, UnsupportedOpError) else None
    if view is None:
        return []
    if view.mode != "source":
        view.show_mode("source")
    return view.select_nodes([b.node for b in blockers])
