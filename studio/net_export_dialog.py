"""Export from a network definition: a dropped ``.py`` (with its checkpoint) becomes a MindIR or ONNX file.

The dialog only collects the choices; :func:`engine.netexport.export_net` does the work on a
worker (the Cell is built, bound, run with ``Model.predict`` and exported in a MindSpore
process), and the written file opens in a new tab.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit

from studio.job_dialog import JobDialog, PathEdit

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

PARAM_FILTER = "Parameter files (*.ckpt *.safetensors *.npz);;All files (*)"


def cell_classes(path: Path) -> list[str]:
    """Class names defined at the top of ``path`` (read, never imported), Cell subclasses first."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError):
        return []
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]

    def is_cell(node: ast.ClassDef) -> bool:
        return any((isinstance(b, ast.Attribute) and b.attr == "Cell") or (isinstance(b, ast.Name) and b.id == "Cell")
                   for b in node.bases)

    return [n.name for n in sorted(classes, key=lambda n: not is_cell(n))]


class NetExportDialog(JobDialog):
    """Class, constructor arguments, parameter file, input shape and output for ``export --net``."""

    run_text = "Export"

    def __init__(self, window: MainWindow, net_path: Path, params_path: Path | None = None) -> None:
        super().__init__(window, "Export from network definition")
        self.setMinimumWidth(640)
        self.net_path = Path(net_path)
        self.class_name = QComboBox(self)
        self.class_name.setEditable(True)
        self.class_name.addItems(cell_classes(self.net_path))
        self.args = QLineEdit(self)
        self.args.setPlaceholderText('constructor arguments as JSON, e.g. {"num_classes": 10}')
        self.params = PathEdit(str(params_path or ""), "Parameter file", PARAM_FILTER, save=False, parent=self)
        self.shape = QLineEdit("1,3,224,224", self)
        self.output = PathEdit(str(self.net_path.with_suffix(".mindir")), "Export to",
                               "MindIR (*.mindir);;ONNX (*.onnx)", save=True, parent=self)
        self.form.addRow("Network file", QLabel(str(self.net_path), self))
        self.form.addRow("Class", self.class_name)
        self.form.addRow("Arguments", self.args)
        self.form.addRow("Parameters", self.params)
        self.form.addRow("Input shape", self.shape)
        self.form.addRow("Output (.mindir, .onnx)", self.output)
        self.status.setText("Runs in a MindSpore process: builds the Cell, binds the parameters (strict), runs "
                            "Model.predict on a seeded input, exports and checks the file against predict.")
        self.result: Any = None

    def make_job(self) -> tuple[str, Callable[[Any], Any]] | None:
        from engine.netexport import parse_args_json

        if not self.params.edit.text().strip():
            self.status.setText("Choose the parameter file (.ckpt, .safetensors or .npz) for this network.")
            return None
        try:
            shape = tuple(int(d) for d in self.shape.text().replace("x", ",").split(",") if d.strip())
            args = parse_args_json(self.args.text().strip() or None)
        except Exception as exc:  # a typo in a field is shown in place, like any job error
            self.status.setText(f"<span style='color:#d64545'>{exc}</span>")
            return None
        output = self.output.path()
        if output.suffix.lower() not in (".mindir", ".onnx"):
            self.status.setText(f"{output.name}: the name must end in .mindir or .onnx.")
            return None
        if not self.confirm_overwrite(output):
            return None
        spec, params = f"{self.net_path}:{self.class_name.currentText().strip()}", self.params.path()

        def work(job: Any) -> Any:
            from engine.netexport import export_net

            return export_net(spec, params, output, input_shape=shape, args=args, job=job)

        return f"Export {output.name}", work

    def on_result(self, result: Any) -> None:
        self.result = result
        self.status.setText(f"Wrote <b>{result.output}</b> ({result.method}); {result.report.summary()}; "
                            f"outputs vs Model.predict: max abs {result.predict_max_abs:.3g}. It opens in a new tab.")
        self.window.open_files([result.output])


def offer_net_export(window: MainWindow, net_path: Path, params_path: Path | None) -> NetExportDialog:
    """Open the dialog for a dropped network definition (and checkpoint, when one came with it)."""
    dialog = NetExportDialog(window, net_path, params_path)
    dialog.open()
    return dialog
