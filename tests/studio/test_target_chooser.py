"""Targets read as people name them, only this OS's are listed, and greyed precisions say why."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from studio.target_chooser import TargetChooser


def _info(name: str, available: bool = True) -> SimpleNamespace:
    return SimpleNamespace(name=name, available=available, reason="" if available else "not in this build",
                           version="", backend=name.split(":")[0])


def test_labels_platform_filter_and_precision_reasons(qtbot):
    chooser = TargetChooser()
    qtbot.addWidget(chooser)
    chooser.refresh([_info("onnxruntime:cpu"), _info("onnxruntime:dml", False), _info("onnxruntime:coreml", False),
                     _info("mindspore:cpu")], preferred="onnxruntime:cpu")
    texts = [chooser.combo.itemText(i) for i in range(chooser.combo.count())]
    assert texts[0] == "ONNX Runtime, CPU (onnxruntime:cpu)"
    assert any(t.startswith("MindSpore, CPU") for t in texts)
    assert any("dml" in t for t in texts) == sys.platform.startswith("win")
    assert any("coreml" in t for t in texts) == (sys.platform == "darwin")
    assert chooser.current_target() == "onnxruntime:cpu"
    assert chooser.select("mindspore:cpu")
    fp16 = chooser.precision.model().item(1)
    assert not fp16.isEnabled() and "MindSpore runs the MindIR as written" in fp16.toolTip()
    assert chooser.select("onnxruntime:cpu")
    assert chooser.precision.model().item(1).isEnabled()
