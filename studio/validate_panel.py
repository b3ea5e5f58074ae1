"""The validate panel: structural findings, per-output parity, pass/fail and the first divergent node."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.errors import describe
from studio.features import feature
from studio.icons import icon

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

SEVERITY_COLOURS = {"error": "#d64545", "warning": "#c77c0e", "info": "#6b7785"}
PARITY_COLUMNS = ("Output", "dtype", "Shape", "max |abs|", "max rel", "cosine", "rtol", "atol",
                  "min passing atol", "mismatch", "result")


def _num(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _table(headers: tuple[str, ...] | list[str], parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class ValidatePanel(QWidget):
    """Runs engine.validate on the current model and presents its report.

    Signals:
        validated(object): the ValidationReport (GUI thread).
    """

    validated = Signal(object)

    def __init__(self, window: MainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self.document: Any = None
        self.report: Any = None
        self._shown_for: Any = None  # the document the compare list was built for
        form_box = QWidget(self)
        form = QFormLayout(form_box)
        self.compare = QComboBox(form_box)
        self.compare.setToolTip("The reference runs on the toolbar's target; this run is compared with it")
        self.compare.currentIndexChanged.connect(self._on_compare_changed)
        self.inputs = QLabel(form_box)
        self.inputs.setWordWrap(True)
        self.inputs.setToolTip("Shapes and input data are chosen per model in the Inputs panel")
        inputs_button = QPushButton("Inputs…", form_box)
        inputs_button.setToolTip("Show the Inputs panel: shapes of dynamic dimensions, or a .npy/.npz data file")
        inputs_button.clicked.connect(lambda: self.window.show_inputs())
        inputs_row = QHBoxLayout()
        inputs_row.addWidget(self.inputs, 1)
        inputs_row.addWidget(inputs_button)
        self.rtol = QLineEdit(form_box)
        self.rtol.setPlaceholderText("by dtype")
        self.atol = QLineEdit(form_box)
        self.atol.setPlaceholderText("by dtype")
        form.addRow("Compare with", self.compare)
        form.addRow("Inputs", inputs_row)
        form.addRow("rtol", self.rtol)
        form.addRow("atol", self.atol)
        self.run_button = QPushButton(icon("validate"), "Validate", form_box)
        self.run_button.clicked.connect(self.run)
        self.divergent_button = QPushButton(icon("search"), "Show first divergent node", form_box)
        self.divergent_button.clicked.connect(self.show_divergent)
        self.divergent_button.setEnabled(False)
        form.addRow(self.run_button)
        form.addRow(self.divergent_button)
        self.verdict = QLabel("", form_box)
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.verdict)
        self.findings = _table(("Severity", "Code", "Message", "Node"), self)
        self.parity = _table(PARITY_COLUMNS, self)
        self.parity_title = QLabel("Parity", self)
        self.divergence = QLabel("", self)
        self.divergence.setWordWrap(True)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.parity_title)
        right_layout.addWidget(self.parity, 2)
        right_layout.addWidget(self.divergence)
        right_layout.addWidget(QLabel("Structural findings", self))
        right_layout.addWidget(self.findings, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(form_box)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self.set_document(None)

    def set_document(self, document: Any) -> None:
        """Show ``document``'s last report and comparison choice, or a cleared panel."""
        if self.document is not None and self.document is not document:
            self.document.compare_choice = self.compare.currentData()
        self.document = document
        self.report = document.validation if document is not None else None
        self.refresh_choices()
        if self.report is not None:
            self._present(self.report)
        else:
            self._clear_results()
            if document is not None and self.run_button.isEnabled():
                self.verdict.setText(document.validate_status or f"No validation of <b>{document.label}</b> yet.")
        self.inputs_changed()

    def inputs_changed(self) -> None:
        """Say which inputs the next validation uses (the Inputs panel's choice for this document)."""
        panel = getattr(self.window, "input_panel", None)
        self.inputs.setText(panel.shapes_text() if panel is not None and self.document is not None else "")

    def _clear_results(self) -> None:
        self.parity.setRowCount(0)
        self.findings.setRowCount(0)
        self.parity_title.setText("Parity")
        self.divergence.setText("")
        self.divergent_button.setEnabled(False)
        self.verdict.setText("")

    def refresh_choices(self) -> None:
        """Other available targets, and the other open graphs, as things to compare with.

        The choice is the active document's own: a model chosen for one tab is never carried
        to another, and a document never compares with itself.
        """
        wanted = self.document.compare_choice if self.document is not None else None
        if wanted is None and self.compare.count() and self.document is not None and self._shown_for is self.document:
            wanted = self.compare.currentData()
        self.compare.blockSignals(True)
        self.compare.clear()
        from studio.target_chooser import target_label

        reference = self.window.targets.current_target()
        for info in self.window.targets.targets:
            if info.available and info.name != reference:
                self.compare.addItem(f"target {target_label(info.name)}", ("target", info.name))
        documents = self.window.documents()
        titles = [d.title for d in documents]
        for doc in documents:
            if doc is not self.document and doc.is_graph:
                name = doc.title if titles.count(doc.title) == 1 else doc.label  # the folder when names clash
                self.compare.addItem(f"model {name}", ("model", doc))
        index = next((i for i in range(self.compare.count()) if self.compare.itemData(i) == wanted), -1)
        self.compare.setCurrentIndex(index if index >= 0 else 0)
        self.compare.blockSignals(False)
        self._shown_for = self.document
        reason = ""
        if not feature("validate"):
            reason = feature("validate").reason
        elif self.document is None or not self.document.is_graph:
            reason = "open a model to validate"
        self.run_button.setEnabled(not reason)
        self.run_button.setToolTip(reason or "Validate (Ctrl+Shift+V)")
        if reason and self.report is None:
            self.verdict.setText(reason)

    def _on_compare_changed(self, _index: int) -> None:
        if self.document is not None:
            self.document.compare_choice = self.compare.currentData()

    def _float(self, edit: QLineEdit) -> float | None:
        text = edit.text().strip()
        return float(text) if text else None

    def run(self) -> None:
        """Validate the current model against the chosen target or model, on a worker."""
        self.refresh_choices()
        if not self.run_button.isEnabled():
            return
        try:
            rtol, atol = self._float(self.rtol), self._float(self.atol)
        except ValueError:
            self.verdict.setText("rtol and atol must be numbers (or empty for the defaults)")
            return
        reference = self.window.targets.current_target()
        targets = [reference]
        against = None
        choice = self.compare.currentData()
        if choice and choice[0] == "target":
            targets.append(choice[1])
        elif choice and choice[0] == "model":
            against = choice[1].model
        doc = self.document
        if against is doc.model:
            self.verdict.setText("Choose something other than this model to compare with.")
            return
        model = doc.model
        inputs_path, specs = doc.inputs_path, list(doc.input_specs)
        from engine.inputs import unresolved_dims

        missing = [] if inputs_path is not None else unresolved_dims(specs, shapes=doc.input_shapes)
        if missing:
            self.verdict.setText("Choose a size for " + ", ".join(missing) + " in the Inputs panel first: the "
                                 "model leaves them dynamic.")
            self.window.show_inputs(focus_missing=True)
            return
        shapes = doc.shapes_for_run()
        options = self.window.targets.target_options()

        def work(job: Any) -> Any:
            from engine.validate import validate

            return validate(model, against=against, targets=targets, inputs_path=inputs_path,
                            shapes=None if inputs_path is not None else shapes, rtol=rtol,
                            atol=atol, options=options, job=job)

        doc.compare_choice = self.compare.currentData()
        doc.validate_status = f"Validating {doc.label} against {self.compare.currentText() or targets[0]}…"
        self.verdict.setText(doc.validate_status)
        self.divergent_button.setEnabled(False)
        self.window.runner.start("validate", f"Validate {doc.label}", work,
                                 on_result=lambda report, d=doc: self._on_report(report, d),
                                 on_error=lambda exc, d=doc: self._on_error(exc, d))

    def _on_error(self, exc: BaseException, doc: Any = None) -> None:
        from studio.advice import window_advice

        doc = doc if doc is not None else self.document
        text = describe(exc, f"Validation of {doc.label} failed to run" if doc is not None else
                        "Validation failed to run")
        advice = window_advice(exc, text.hint)
        line = f"{text.headline}: {text.detail}" + (f" ({advice})" if advice else "")
        log.error("%s", line)
        if doc is not None:
            doc.validate_status = line
            doc.validation = None
        if doc is self.document:
            from studio.advice import select_blockers

            select_blockers(self.window, doc, exc)  # point at the nodes that cannot run here
            self._clear_results()
            self.report = None
            self.verdict.setText(line)

    def _on_report(self, report: Any, doc: Any) -> None:
        doc.validation = report
        doc.validate_status = ""
        log.info("validation of %s: %s", doc.label, "passed" if report.passed else "failed")
        if doc is self.document:
            self.show_report(report)
        else:
            self.validated.emit(report)

    def show_report(self, report: Any) -> None:
        """Present a ValidationReport of the active document, and select the first divergent node."""
        if self.document is not None:
            self.document.validation = report
        self._present(report)
        if report.first_divergent is not None:
            self.show_divergent()
        self.validated.emit(report)

    def _present(self, report: Any) -> None:
        """Verdict, parity table, findings and divergence of ``report`` (no graph changes)."""
        self.report = report
        colour = "#2e9e5b" if report.passed else "#d64545"
        text = "PASSED" if report.passed else "FAILED"
        extra = []
        if report.errors:
            extra.append(f"{len(report.errors)} structural error(s)")
        failed_runs = [r for r in report.runs if r.error]
        if failed_runs:
            extra.append(f"{len(failed_runs)} run(s) failed")
        extra += report.notes
        tensors = (report.inputs or {}).get("tensors") or {}
        if tensors:
            extra.append("inputs: " + ", ".join(f"{k} {'x'.join(str(d) for d in v.get('shape', []))}"
                                                for k, v in tensors.items())
                         + f" ({report.inputs.get('source', '')})")
        name = f"<b>{self.document.label}</b>: " if self.document is not None else ""
        self.verdict.setText(f"{name}<b style='color:{colour}'>{text}</b>"
                             + ("<br>" + "<br>".join(extra) if extra else ""))
        self._fill_parity(report)
        self._fill_findings(report.findings)
        div = report.first_divergent
        if div is not None:
            self.divergence.setText(f"<b>First divergent node</b>: {div}")
        elif report.divergence_note:
            self.divergence.setText(report.divergence_note)
        else:
            self.divergence.setText("")
        self.divergent_button.setEnabled(div is not None)

    def _fill_parity(self, report: Any) -> None:
        rows = [(c, o) for c in report.comparisons for o in c.outputs]
        if report.comparisons:
            self.parity_title.setText("Parity: " + "; ".join(f"{c.candidate} vs {c.reference}" for c in report.comparisons))
        self.parity.setRowCount(len(rows))
        for r, (_c, o) in enumerate(rows):
            values = [o.name, o.dtype, "x".join(str(d) for d in o.shape), _num(o.max_abs), _num(o.max_rel),
                      _num(o.cosine), _num(o.rtol), _num(o.atol), _num(o.min_passing_atol),
                      f"{o.mismatch_fraction:.2%}", "pass" if o.passed else "FAIL"]
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                if col == len(values) - 1:
                    item.setForeground(QColor("#2e9e5b" if o.passed else "#d64545"))
                self.parity.setItem(r, col, item)

    def _fill_findings(self, findings: list[Any]) -> None:
        self.findings.setRowCount(len(findings))
        for r, f in enumerate(findings):
            for col, value in enumerate((f.severity, f.code, f.message, f.node or "")):
                item = QTableWidgetItem(value)
                if col == 0:
                    item.setForeground(QColor(SEVERITY_COLOURS.get(f.severity, "#6b7785")))
                item.setToolTip(value)
                self.findings.setItem(r, col, item)

    def show_divergent(self) -> None:
        """Colour the graph by the parity error found and select the first divergent node."""
        div = getattr(self.report, "first_divergent", None)
        view = self.window.current_view()
        if div is None or view is None or not view.document.is_graph:
            return
        view.color_by_names({div.node: float(div.max_abs) if math.isfinite(div.max_abs) else 1e30},
                            "max abs error", select=div.node)

    def parity_rows(self) -> list[list[str]]:
        return [[self.parity.item(r, c).text() for c in range(self.parity.columnCount())]
                for r in range(self.parity.rowCount())]
