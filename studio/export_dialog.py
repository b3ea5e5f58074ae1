"""The export dialog: bind a parameter file into a graph, show the binding report, then write."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem

from studio.convert_dialog import writable_graph_formats
from studio.errors import describe
from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

PARAM_FILTER = "Parameter files (*.ckpt *.safetensors *.npz);;All files (*)"


class ExportDialog(JobDialog):
    """Check the binding first (nothing written), then export on request.

    The binding report (matched, missing, unexpected, mismatched) is shown before any file
    is written; Export stays disabled until a check passed, or force is ticked.
    """

    run_text = "Export"

    def __init__(self, window: MainWindow, graph_path: Path, params_path: Path | None = None) -> None:
        super().__init__(window, "Export graph with parameters")
        self.setMinimumWidth(640)  # the binding verdict and paths read whole, not clipped
        self.graph_path = Path(graph_path)
        self.params = PathEdit(str(params_path or ""), "Parameter file", PARAM_FILTER, save=False, parent=self)
        self.format = QComboBox(self)
        for spec in writable_graph_formats():
            self.format.addItem(f"{spec.label} ({spec.suffixes[0]})", spec)
        # Default: the graph's own format (a bound MindIR stays a MindIR), else ONNX.
        names = [self.format.itemData(i).name for i in range(self.format.count())]
        own = next((n for n in names if f".{n}" == self.graph_path.suffix.lower()), "onnx")
        self.format.setCurrentIndex(names.index(own) if own in names else 0)
        self.output = PathEdit(self._default_output(), "Export to", "All files (*)", save=True, parent=self)
        self.format.currentIndexChanged.connect(lambda _: self.output.setText(self._default_output()))
        self.force = QCheckBox("bind what fits (keep the graph's values for the rest)", self)
        self.force.toggled.connect(self._update_run)
        self.check_button = QPushButton("Check binding", self)
        self.check_button.clicked.connect(self.check)
        self.form.addRow("Graph", QLabel(str(self.graph_path), self))
        self.form.addRow("Parameters", self.params)
        self.form.addRow("Format", self.format)
        self.form.addRow("Output", self.output)
        self.form.addRow("", self.force)
        self.form.addRow("", self.check_button)
        self.report_view = QTreeWidget(self)
        self.report_view.setHeaderLabels(["Binding", "Detail"])
        self.report_view.setMinimumHeight(200)
        self.extra.addWidget(self.report_view)
        self.report: Any = None
        self.result: Any = None
        self.params.edit.textChanged.connect(self._invalidate)
        self._update_run()
        if params_path:
            self.check()

    def _default_output(self) -> str:
        """Beside the graph, with the format's suffix, never on an existing file."""
        from engine.fileio import free_path

        spec = self.format.currentData()
        suffix = spec.suffixes[0] if spec else ".onnx"
        return str(free_path(self.graph_path.with_name(f"{self.graph_path.stem}.exported{suffix}"),
                             avoid=[self.graph_path]))

    def _missing_params(self) -> bool:
        """Say so (and return True) when no parameter file is chosen, instead of reading the folder '.'."""
        if self.params.edit.text().strip():
            return False
        self.status.setText("Choose a parameter file (.ckpt, .safetensors or .npz) to bind: Browse… or drop one "
                            "on the graph.")
        return True

    def _invalidate(self) -> None:
        self.report = None
        self.report_view.clear()
        self._update_run()

    def _update_run(self) -> None:
        ok = self.report is not None and (self.report.ok or self.force.isChecked())
        self.run_button.setEnabled(ok)
        self.run_button.setToolTip("" if ok else "check the binding first; it must match (or tick force)")

    def check(self) -> None:
        """Bind in memory on a worker and show the report; nothing is written."""
        from studio.features import feature

        if not feature("bind"):
            self.status.setText(feature("bind").reason)
            return
        if self._missing_params():
            return
        graph_path, params_path = self.graph_path, self.params.path()

        def work(job: Any) -> Any:
            from engine import formats
            from engine.errors import BindingError
            from engine.export import bind_parameters

            graph = formats.load(graph_path, job=job.sub(0.0, 0.5))
            source = formats.load(params_path, job=job.sub(0.5, 0.8))
            params = source.params
            if params is None:
                from engine.export import graph_parameters

                params = graph_parameters(source)
            try:
                _, report = bind_parameters(graph, params, force=True, job=job.sub(0.8, 1.0))
            except BindingError as exc:  # force=True should not raise, but keep the report if it does
                report = exc.report
            return report

        self.status.setText("Checking the binding (nothing is written)…")
        self.check_button.setEnabled(False)
        task = self.window.runner.start("dialog:ExportDialog:check", f"Check binding of {params_path.name}", work,
                                        on_result=self.show_report, on_error=self._check_failed)
        task.finished.connect(lambda _s: self.check_button.setEnabled(True))

    def _check_failed(self, exc: BaseException) -> None:
        self.status.setText(f"<span style='color:#d64545'>{describe(exc).one_line()}</span>")

    def show_report(self, report: Any) -> None:
        self.report = report
        self.report_view.clear()
        groups = (("matched", report.matched), ("missing", report.missing), ("unexpected", report.unexpected),
                  ("mismatched", [f"{n}: graph {list(g)} {gd} vs file {list(p)} {pd}"
                                  for n, g, p, gd, pd in report.mismatched]))
        for name, items in groups:
            top = QTreeWidgetItem(self.report_view, [f"{name} ({len(items)})", ""])
            for entry in items[:500]:
                QTreeWidgetItem(top, ["", entry])
            top.setExpanded(name in ("missing", "mismatched") and bool(items))
        verdict = "binds cleanly" if report.ok else "does not bind"
        self.status.setText(f"<b>{verdict}</b>: {report.summary()}")
        self._update_run()

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        if self._missing_params():
            return None
        if not self.output.edit.text().strip():
            self.status.setText("Choose a file name for the exported model (Browse…).")
            return None
        graph_path, params_path, output = self.graph_path, self.params.path(), self.output.path()
        spec, force = self.format.currentData(), self.force.isChecked()
        if output.suffix.lower() not in [x.lower() for x in spec.suffixes]:
            # A typed name with another format's suffix picks that format: bytes always match the name.
            match = next((i for i in range(self.format.count())
                          if output.suffix.lower() in [x.lower() for x in self.format.itemData(i).suffixes]), None)
            if match is None:
                self.status.setText(f"{output.name}: the name must end in "
                                    + " or ".join(self.format.itemData(i).suffixes[0] for i in range(self.format.count()))
                                    + " so that it says which format it holds.")
                return None
            self.format.blockSignals(True)  # keep the typed name: no default output for the new format
            self.format.setCurrentIndex(match)
            self.format.blockSignals(False)
            spec = self.format.currentData()
        if not self.confirm_overwrite(output):
            return None

        def work(job: Any) -> Any:
            from engine.export import export

            return export(graph_path, params_path, output, fmt=spec.name, force=force, job=job)

        return f"Export {output.name}", work

    def on_result(self, result: Any) -> None:
        self.result = result
        self.status.setText(f"Wrote <b>{result.output}</b>: {result.report.summary()}; it opens in a new tab.")
        self.window.open_files([result.output])
