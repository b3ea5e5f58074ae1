"""The inputs panel: per input and per dimension, the shape a run uses, and an optional .npy/.npz data file."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.inputs import describe_shapes, unresolved_dims

log = logging.getLogger(__name__)

#: The largest dimension the panel offers (a spin box needs a bound).
MAX_DIM = 1_000_000
WARNING_STYLE = "color: #c77c0e"
ERROR_STYLE = "color: #d64545"


class InputPanel(QWidget):
    """Shows the active document's inputs; dynamic dimensions are spin boxes, fixed ones are shown disabled.

    A dimension that is not chosen reads ``?``. Dimensions sharing a symbolic name (``batch``)
    change together. The choices live in the document (:attr:`Document.input_shapes`,
    :attr:`Document.inputs_path`), so each tab keeps its own.

    Signals:
        inputs_changed(): a shape or the data file changed for the active document.
    """

    inputs_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document: Any = None
        self.spins: dict[str, list[QSpinBox | None]] = {}
        self._dynamic: list[QSpinBox] = []
        self._syncing = False
        # Everything scrolls, so the dock can be as short as the window needs (900x600 screenshots).
        content = QWidget(self)
        self.title = QLabel(content)
        self.title.setWordWrap(True)
        self.grid_box = QWidget(content)
        self.grid = QGridLayout(self.grid_box)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.data_path = QLineEdit(content)
        self.data_path.setReadOnly(True)
        self.data_path.setPlaceholderText("generated from the shapes above (seed 0)")
        self.browse_button = QPushButton("Data file…", content)
        self.browse_button.setToolTip("Run benchmark and validate on arrays from a .npy (one input) or .npz (by name)")
        self.browse_button.clicked.connect(self._browse)
        self.clear_button = QPushButton("Clear", content)
        self.clear_button.clicked.connect(lambda: self.set_data_path(None))
        data_row = QHBoxLayout()
        self.data_label = QLabel("Data", content)
        data_row.addWidget(self.data_label)
        data_row.addWidget(self.data_path, 1)
        data_row.addWidget(self.browse_button)
        data_row.addWidget(self.clear_button)
        self.message = QLabel(content)
        self.message.setWordWrap(True)
        inner = QVBoxLayout(content)
        inner.setContentsMargins(4, 4, 4, 4)
        inner.addWidget(self.title)
        inner.addWidget(self.grid_box)
        inner.addLayout(data_row)
        inner.addWidget(self.message)
        inner.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        self.set_document(None)

    # Document -----------------------------------------------------------------
    def set_document(self, document: Any) -> None:
        """Show ``document``'s inputs and its choices (None: an empty panel)."""
        self.document = document
        self._rebuild()
        self._refresh()

    def _rebuild(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.spins = {}
        self._dynamic = []
        doc = self.document
        if doc is None or not doc.input_specs:
            return
        for index, spec in enumerate(doc.input_specs):
            row = 2 * index  # the name line, then the dims line: a narrow dock still shows every dim
            name = QLabel(f"<b>{spec.name}</b> {spec.dtype} {spec.shape_text()}", self.grid_box)
            name.setToolTip(f"{spec.name}: {spec.dtype}, declared {spec.shape_text()}")
            self.grid.addWidget(name, row, 0)
            chosen = doc.input_shapes.setdefault(spec.name, [d if isinstance(d, int) else None for d in spec.shape])
            boxes: list[QSpinBox | None] = []
            dims = QHBoxLayout()
            dims.setSpacing(2)
            for axis, declared in enumerate(spec.shape):
                spin = QSpinBox(self.grid_box)
                spin.setRange(0, MAX_DIM)
                spin.setSpecialValueText("?")
                spin.setButtonSymbols(QSpinBox.ButtonSymbols.NoButtons)  # compact: type or scroll the value
                label = f"{declared}=" if isinstance(declared, str) else ""
                spin.setMaximumWidth(self.fontMetrics().horizontalAdvance(label + "99999") + 14)
                spin.setAccessibleName(f"{spec.name} axis {axis}")
                if isinstance(declared, int):
                    spin.setValue(declared)
                    spin.setEnabled(False)
                    spin.setToolTip(f"axis {axis}: fixed by the model")
                else:
                    label = declared if isinstance(declared, str) else f"axis {axis}"
                    if isinstance(declared, str):
                        spin.setPrefix(f"{declared}=")
                        spin.setSpecialValueText(f"{declared}=?")
                    spin.setToolTip(f"{label}: dynamic; choose the size to run at")
                    spin.setValue(chosen[axis] or 0)
                    spin.valueChanged.connect(lambda v, n=spec.name, a=axis: self._on_dim(n, a, v))
                    self._dynamic.append(spin)
                boxes.append(spin)
                dims.addWidget(spin)
            dims.addStretch(1)
            holder = QWidget(self.grid_box)
            holder.setLayout(dims)
            dims.setContentsMargins(0, 0, 0, 0)
            self.grid.addWidget(holder, row + 1, 0)
            self.spins[spec.name] = boxes
        self.grid.setColumnStretch(0, 1)

    # Editing ------------------------------------------------------------------
    def set_dim(self, name: str, axis: int, value: int | None) -> None:
        """Choose dimension ``axis`` of input ``name`` (None or 0: not chosen)."""
        spin = self.spins[name][axis]
        if spin is not None and spin.isEnabled():
            spin.setValue(value or 0)

    def _on_dim(self, name: str, axis: int, value: int) -> None:
        doc = self.document
        if doc is None or self._syncing:
            return
        doc.input_shapes[name][axis] = value or None
        declared = next(s for s in doc.input_specs if s.name == name).shape[axis]
        if isinstance(declared, str):  # one symbolic name, one size, in every input
            self._syncing = True
            try:
                for spec in doc.input_specs:
                    for i, d in enumerate(spec.shape):
                        if d == declared and (spec.name, i) != (name, axis):
                            doc.input_shapes[spec.name][i] = value or None
                            box = self.spins[spec.name][i]
                            if box is not None:
                                box.setValue(value)
            finally:
                self._syncing = False
        self._refresh()
        self.inputs_changed.emit()

    def set_data_path(self, path: str | Path | None) -> None:
        """Use input data from ``path`` (.npy/.npz) for the active document, or generated data (None)."""
        if self.document is None:
            return
        doc = self.document
        doc.inputs_path = Path(path) if path else None
        doc.inputs_check = None
        self._refresh()
        self.inputs_changed.emit()
        if doc.inputs_path is not None:
            self._check_file(doc)

    def _check_file(self, doc: Any) -> None:
        """Read the data file on a worker and say at once whether it fits the model (and at what shapes)."""
        runner = getattr(self.window(), "runner", None)
        if runner is None:
            return
        path, specs = doc.inputs_path, list(doc.input_specs)

        def work(job: Any) -> Any:
            from engine.inputs import load_feeds

            return describe_shapes({k: v.shape for k, v in load_feeds(path, specs).items()})

        def done(text: str) -> None:
            doc.inputs_check = ("ok", text)
            self._after_check(doc)

        def failed(exc: BaseException) -> None:
            from studio.errors import describe

            doc.inputs_check = ("error", describe(exc).detail)
            self._after_check(doc)

        runner.start(f"inputs-check:{doc.path}", f"Read {path.name}", work, on_result=done, on_error=failed)

    def _after_check(self, doc: Any) -> None:
        if doc is self.document:
            self._refresh()
            self.inputs_changed.emit()

    def _browse(self) -> None:
        start = str(self.document.path.parent) if self.document is not None else ""
        path, _ = QFileDialog.getOpenFileName(self, "Input data", start, "NumPy arrays (*.npy *.npz)")
        if path:
            self.set_data_path(path)

    # Reading ------------------------------------------------------------------
    def unresolved(self) -> list[str]:
        """Dynamic dimensions still ``?`` (empty when a data file gives the inputs)."""
        doc = self.document
        if doc is None or doc.inputs_path is not None:
            return []
        return unresolved_dims(doc.input_specs, shapes=doc.input_shapes)

    def shapes_text(self) -> str:
        """The inputs a run uses, for the status line: ``x 1x3x224x224`` or ``from x.npz``."""
        doc = self.document
        if doc is None:
            return ""
        if doc.inputs_path is not None:
            check = doc.inputs_check
            return f"from {doc.inputs_path.name}" + (f" ({check[1]})" if check and check[0] == "ok" else "")
        return describe_shapes(doc.input_shapes) or "no inputs"

    def focus_first_unresolved(self) -> None:
        """Put the keyboard focus on the first dimension still to choose."""
        doc = self.document
        if doc is None:
            return
        for spec in doc.input_specs:
            for axis, d in enumerate(spec.shape):
                if not isinstance(d, int) and doc.input_shapes[spec.name][axis] is None:
                    spin = self.spins[spec.name][axis]
                    if spin is not None:
                        spin.setFocus(Qt.FocusReason.OtherFocusReason)
                        spin.selectAll()
                    return

    def _refresh(self) -> None:
        doc = self.document
        has_inputs = doc is not None and bool(doc.input_specs)
        self.browse_button.setEnabled(has_inputs)
        for widget in (self.data_label, self.data_path, self.browse_button, self.clear_button):
            widget.setVisible(has_inputs)  # a parameter file has nothing to feed
        self.clear_button.setEnabled(doc is not None and doc.inputs_path is not None)
        from_file = doc is not None and doc.inputs_path is not None
        self.data_path.setText(str(doc.inputs_path) if from_file else "")
        for spin in self._dynamic:
            spin.setEnabled(not from_file)
        if doc is None:
            self.title.setText("Open a model to choose its input shapes.")
            self.message.setText("")
            return
        if not has_inputs:
            self.title.setText(f"{doc.label}: no inputs to feed.")
            self.message.setText("")
            return
        self.title.setText(f"Inputs of <b>{doc.label}</b>")
        missing = self.unresolved()
        if from_file:
            check = doc.inputs_check
            if check is not None and check[0] == "error":
                self.message.setStyleSheet(ERROR_STYLE)
                self.message.setText(f"{doc.inputs_path.name} does not fit this model: {check[1]}. Choose another "
                                     "file, or Clear to use generated data.")
            else:
                self.message.setStyleSheet("")
                shapes = f" ({check[1]})" if check is not None else " (reading it…)"
                self.message.setText(f"Benchmark and validate read the inputs from {doc.inputs_path.name}{shapes}; "
                                     "the shapes come from the file.")
        elif missing:
            self.message.setStyleSheet(WARNING_STYLE)
            self.message.setText("Choose a size for " + ", ".join(missing)
                                 + ": the model leaves them dynamic, so runs wait for a value.")
        else:
            self.message.setStyleSheet("")
            self.message.setText(f"Runs use {self.shapes_text()} (seeded random data).")
