"""The batch dialog: a dropped folder's models converted, checked and timed, with a live table of results.

The work is ``engine.batch.run_batch`` on the task runner; each finished model arrives as a
queued signal and fills its row. The "Cluster" setting (a Ray address, empty for this
machine) is kept in the studio settings; "Cluster targets" asks each node for its targets
and lists them grouped by host. "Run on node" and "Shared filesystem" are the CLI's ``--on``
and ``--shared-fs``, and like them need a cluster.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
)

from studio.job_dialog import JobDialog
from studio.workers import Task

if TYPE_CHECKING:
    from studio.main_window import MainWindow

log = logging.getLogger(__name__)

CLUSTER_KEY = "batch/cluster"
FAILED_COLOR = Qt.GlobalColor.darkRed


def cluster_address(settings: Any) -> str:
    """The "Cluster" connection setting: a Ray address, or "" for this machine's worker processes."""
    return str(settings.value(CLUSTER_KEY, "") or "").strip()


class BatchDialog(JobDialog):
    """Folder(s) in, one row per model out, filled in as each job ends.

    Signals:
        record_finished(object, int, int): a model's result (record, finished, total), on the GUI thread.
    """

    record_finished = Signal(object, int, int)
    run_text = "Run batch"

    def __init__(self, window: MainWindow, folders: list[Path]) -> None:
        super().__init__(window, "Batch: convert, validate, benchmark")
        self.folders = [Path(f) for f in folders]
        first = self.folders[0] if self.folders else Path.cwd()
        self.inputs = QLineEdit("; ".join(str(f) for f in self.folders), self)
        self.output = QLineEdit(str(first.parent / f"{first.name}-batch"), self)
        self.stage = QComboBox(self)
        self.stage.addItems(["validate", "convert", "bench"])
        self.targets = QLineEdit("onnxruntime:cpu", self)
        self.targets.setToolTip("benchmark targets, comma-separated; TARGET@NODE places one on a cluster node")
        self.parity = QLineEdit("auto", self)
        self.workers = QSpinBox(self)
        self.workers.setRange(0, 64)
        from engine.batch import default_workers

        self.workers.setValue(default_workers())
        self.workers.setToolTip("local worker processes (0: one after another in one process)")
        self.cluster = QLineEdit(cluster_address(window.settings), self)
        self.cluster.setPlaceholderText("empty: this machine; or auto, host:port, ray://host:port")
        self.cluster.editingFinished.connect(
            lambda: window.settings.set_value(CLUSTER_KEY, self.cluster.text().strip()))
        self.form.addRow("Models", self.inputs)
        self.form.addRow("Output folder", self.output)
        self.form.addRow("Stage", self.stage)
        self.form.addRow("Benchmark targets", self.targets)
        self.form.addRow("Parity target", self.parity)
        self.form.addRow("Local workers", self.workers)
        self.on_node = QLineEdit(self)
        self.on_node.setPlaceholderText("any node (or a node id, host name or label such as zone=lab)")
        self.on_node.setToolTip("with a cluster: run every job on this node (dstudio batch --on)")
        self.shared_fs = QCheckBox("the nodes see these paths (NFS...): send paths, not file contents", self)
        self.shared_fs.setToolTip("with a cluster: models and converted files go by path, not through Ray's object "
                                  "store; needed for ONNX models with external data (dstudio batch --shared-fs)")
        self.form.addRow("Cluster", self.cluster)
        self.form.addRow("Run on node", self.on_node)
        self.form.addRow("Shared filesystem", self.shared_fs)
        self.table = QTableWidget(0, 0, self)
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.extra.addWidget(self.table, 1)
        self.nodes_button = QPushButton("Cluster targets", self)
        self.nodes_button.clicked.connect(self.list_nodes)
        self.buttons.addButton(self.nodes_button, self.buttons.ButtonRole.ActionRole)
        self.nodes = QTreeWidget(self)
        self.nodes.setHeaderLabels(["host / target", "available", "reason"])
        self.nodes.hide()
        self.extra.addWidget(self.nodes)
        self.records: list[dict[str, Any]] = []
        self.record_finished.connect(self._add_record)
        self.resize(980, 640)

    # Running -------------------------------------------------------------------
    def make_job(self):
        from engine.batch import BatchOptions, run_batch

        inputs = [s.strip() for s in self.inputs.text().split(";") if s.strip()]
        if not inputs or not self.output.text().strip():
            self.status.setText("Give the models (folders, files or patterns) and an output folder.")
            return None
        targets = tuple(t.strip() for t in self.targets.text().split(",") if t.strip()) or ("onnxruntime:cpu",)
        options = BatchOptions(stage=self.stage.currentText(), targets=targets,
                               parity_target=self.parity.text().strip() or "auto")
        cluster = self.cluster.text().strip() or None
        on = self.on_node.text().strip() or None
        shared_fs = self.shared_fs.isChecked()
        if (on or shared_fs) and not cluster:
            self.status.setText("\"Run on node\" and \"Shared filesystem\" are about a cluster's nodes: "
                                "give the cluster's address, or clear them to run on this machine.")
            return None
        self.window.settings.set_value(CLUSTER_KEY, cluster or "")
        outdir = Path(self.output.text().strip()).expanduser()
        workers = self.workers.value()
        self.records = []
        self.table.setRowCount(0)

        def finished(record: dict, i: int, n: int) -> None:
            try:
                self.record_finished.emit(record, i, n)  # queued to the GUI thread
            except RuntimeError:  # the dialog was closed and deleted meanwhile: nobody to tell
                pass

        def fn(job):
            return run_batch(inputs, outdir, options, cluster=cluster, on=on, shared_fs=shared_fs, workers=workers,
                             job=job, on_result=finished)

        return f"Batch {options.stage} of {', '.join(Path(i).name for i in inputs)}", fn

    def _add_record(self, record: dict, finished: int, total: int) -> None:
        self.records.append(record)
        self._fill(self.records)
        self.status.setText(f"{finished} of {total} done")

    def _fill(self, records: list[dict[str, Any]]) -> None:
        from engine.batch.report import rows

        headers, body = rows(records)
        headers = headers + ["error"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(body))
        for r, (record, cells) in enumerate(zip(records, body)):
            for c, text in enumerate([*cells, record.get("error") or ""]):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                if record["status"] != "ok":
                    item.setForeground(FAILED_COLOR)
                if c == len(headers) - 1 and text:
                    item.setToolTip(text)
                self.table.setItem(r, c, item)

    def on_result(self, report: Any) -> None:
        self.records = list(report.records)
        self._fill(self.records)
        counts = ", ".join(f"{report.count(s)} {s}" for s in ("ok", "mismatch", "failed"))
        where = report.files.get("html", "")
        self.status.setText(f"{counts}; ran {len(report.ran)}, {len(report.skipped)} current; "
                            f"{report.wall_seconds:.1f} s ({report.mode}). Report: {where}")

    # Cluster targets -----------------------------------------------------------
    def list_nodes(self) -> None:
        """Ask every node of the cluster for its targets; list them grouped by host."""
        address = self.cluster.text().strip()
        if not address:
            self.status.setText("Set the Cluster address first (auto, host:port or ray://host:port).")
            return
        from engine.batch.cluster import list_cluster_targets

        self.nodes_button.setEnabled(False)
        self.status.setText(f"asking the nodes of {address} for their targets…")
        task: Task = self.window.runner.start("dialog:batch-nodes", f"Targets of {address}",
                                              lambda job: list_cluster_targets(address),
                                              on_result=self.show_nodes, on_error=self._nodes_failed)
        self.nodes_task = task

    def show_nodes(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes_button.setEnabled(True)
        self.nodes.clear()
        by_host: dict[str, list[dict[str, Any]]] = {}
        for n in nodes:
            by_host.setdefault(n["host"], []).append(n)
        for host, members in sorted(by_host.items()):
            top = QTreeWidgetItem(self.nodes, [host, "", ""])
            for n in members:
                node = QTreeWidgetItem(top, [f"{n['name']} · {n['cpu_model']}", "",
                                             "accelerators: " + (", ".join(n["accelerators"]) or "none")])
                for t in n["targets"]:
                    QTreeWidgetItem(node, [f"{t['name']}@{n['name']}", "yes" if t.get("available") else "no",
                                           t.get("reason", "")])
            top.setExpanded(True)
        self.nodes.expandAll()
        self.nodes.show()
        chooser = getattr(self.window, "targets", None)
        if chooser is not None and hasattr(chooser, "set_remote"):
            chooser.set_remote(nodes)  # the toolbar's chooser lists them too, grouped by host
        self.status.setText(f"{len(nodes)} node(s) on {len(by_host)} host(s)")

    def _nodes_failed(self, exc: BaseException) -> None:
        self.nodes_button.setEnabled(True)
        self.status.setText(f"<span style='color:#d64545'>Cannot list the cluster's targets: {exc}</span>")
