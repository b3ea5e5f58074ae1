"""Errors shown in the window advise what the window can do, never a command-line flag."""

from __future__ import annotations

import pytest

from engine.errors import FormatError, InputError, OutputPathError, TargetError, UnsupportedOpError
from studio.advice import window_advice


@pytest.mark.parametrize("exc, hint, expected", [
    (InputError("bad shape"), "give the inputs with --inputs FILE.npz", "Inputs panel"),
    (TargetError("unknown target"), "dstudio targets lists every target", "toolbar"),
    (UnsupportedOpError("no lowering"), "the file still opens (dstudio inspect, the window)", "mindspore target"),
    (OutputPathError("is a folder"), "", "Browse"),
])
def test_known_errors_get_the_windows_advice(exc, hint, expected):
    advice = window_advice(exc, hint)
    assert expected in advice
    assert "dstudio" not in advice and "--" not in advice


def test_other_hints_pass_unless_they_name_the_cli():
    assert window_advice(FormatError("x"), "re-export the model from MindSpore") == "re-export the model from MindSpore"
    assert window_advice(FormatError("x"), "run with -v to see its log") == ""
    assert window_advice(FormatError("x"), "pass --to onnx|mindir") == ""
    assert window_advice(RuntimeError("x"), "") == ""
