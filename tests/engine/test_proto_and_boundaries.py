"""Generated protobuf code is reproducible, and the engine runs with Qt absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_generated_protobuf_modules_are_up_to_date():
    pytest.importorskip("grpc_tools", reason="grpcio-tools (dev extra) regenerates the modules")
    proc = subprocess.run([sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_schema_field_numbers_match_mindspores_own(tmp_path):
    """Our schema parses MindSpore's files; where MindSpore is installed, its descriptors agree field by field."""
    pytest.importorskip("mindspore")
    from google.protobuf import descriptor_pb2
    from mindspore.train import checkpoint_pb2 as ms_ckpt
    from mindspore.train import mind_ir_pb2 as ms_mindir

    from engine.formats._proto import dstudio_checkpoint_pb2 as our_ckpt
    from engine.formats._proto import dstudio_mind_ir_pb2 as our_mindir

    def fields(module) -> dict[str, tuple]:
        fd = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(fd)
        out = {}

        def walk(msg, prefix):
            for f in msg.field:
                out[f"{prefix}{msg.name}.{f.name}"] = (f.number, f.type, f.label)
            for nested in msg.nested_type:
                walk(nested, f"{prefix}{msg.name}.")

        for msg in fd.message_type:
            walk(msg, "")
        return out

    assert fields(our_mindir) == fields(ms_mindir)
    assert fields(our_ckpt) == fields(ms_ckpt)


HEADLESS = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'shiboken6', 'pyqtgraph', 'studio'}:
            raise ModuleNotFoundError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, engine
for mod in pkgutil.walk_packages(engine.__path__, 'engine.'):
    if mod.name.endswith('__main__'):
        continue
    importlib.import_module(mod.name)
from engine.cli import main
sys.exit(main(['inspect', sys.argv[1]]))
"""


def test_engine_imports_and_runs_without_qt():
    from tests_helpers import fixture_or_skip

    fx = fixture_or_skip("lenet5")
    proc = subprocess.run([sys.executable, "-c", HEADLESS, str(fx.mindir)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Conv2D" in proc.stdout and "PySide6" not in proc.stderr
