"""The broken-file table: every reproducer in tests/data/broken gives its one-line error through the CLI.

Each entry of ``tests/data/broken/manifest.json`` names a file, the commands to run on it
and the text its error must contain. Every run must exit 1 with exactly one line on stderr
("error: ..."), print nothing on stdout, and leave the folder as it was (no output, no
temporary). The files come from ``tests/data/broken/make_broken.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli import main

BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
MANIFEST = json.loads((BROKEN / "manifest.json").read_text())
CASES = [(e, cmd) for e in MANIFEST for cmd in e["commands"]]
OTHER = {"mindir": "onnx", "onnx": "mindir"}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("entry,command", CASES, ids=[f"{e['file'].split('/')[0]}-{c}" for e, c in CASES])
def test_broken_file_gives_one_clear_line(tmp_path, capsys, entry, command):
    source = BROKEN / entry["file"]
    work = tmp_path / source.parent.name
    shutil.copytree(source.parent, work)
    target = work / source.name
    before = _snapshot(work)
    if command == "inspect":
        argv = ["inspect", str(target)]
    else:
        argv = ["convert", str(target), "-o", str(work / f"out.{OTHER[entry['format']]}")]
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 1, f"exit {code}; stderr: {err!r}"
    assert out == ""
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert entry["error"] in lines[0]
    assert str(target) in lines[0], "the error must name the input file"
    assert _snapshot(work) == before, "something was written"


def test_manifest_lists_every_reproducer():
    listed = {e["file"] for e in MANIFEST}
    present = {str(p.relative_to(BROKEN)) for p in BROKEN.glob("*/model.*")}
    assert listed == present
