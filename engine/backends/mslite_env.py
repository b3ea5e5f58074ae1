"""The MindSpore Lite environment: a Python 3.7 venv with ``mindspore-lite`` that the project creates on demand.

The only MindSpore Lite wheel on PyPI (``mindspore-lite==2.0.0``) is built for Python 3.7,
so Lite runs in its own interpreter: this module finds a Python 3.7, creates the venv (under
the user data dir, or ``$DSTUDIO_MSLITE_VENV``), and converts ONNX to ``.ms`` with Lite's
converter there, caching results by content hash.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from engine.errors import TargetError

log = logging.getLogger(__name__)

LITE_REQUIREMENT = "mindspore-lite==2.0.0"
LITE_VERSION = "2.0.0"
WORKER = Path(__file__).with_name("mslite_worker.py")
SETUP_COMMAND = "dstudio targets --setup mindspore-lite"
CONVERT_TIMEOUT_S = 600
#: The converted-model cache is pruned, least recently used first, to this many MiB
#: (``DSTUDIO_MSLITE_CACHE_MB`` overrides it) after every new conversion.
CACHE_LIMIT_MB = 2048
#: A converter work folder this old (seconds) belongs to a process that died: removed when pruning.
STALE_WORK_S = 3600


def find_python37() -> str | None:
    """A working Python 3.7: ``$DSTUDIO_PYTHON37``, pyenv's 3.7 builds, or ``python3.7`` on PATH."""
    explicit = os.environ.get("DSTUDIO_PYTHON37")
    if explicit:
        return explicit if _is_python37(explicit) else None
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(root / "versions" / "3.7*" / "bin" / "python3.7")), reverse=True)
    on_path = shutil.which("python3.7")
    if on_path and "/shims/" not in on_path:  # a pyenv shim fails unless 3.7 is the active version
        candidates.append(on_path)
    return next((c for c in candidates if _is_python37(c)), None)


def _is_python37(python: str) -> bool:
    try:
        proc = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 7))"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.stdout.strip() == "True"


def venv_dir() -> Path:
    """Where the Lite venv lives (``$DSTUDIO_MSLITE_VENV`` or the user data dir)."""
    explicit = os.environ.get("DSTUDIO_MSLITE_VENV")
    if explicit:
        return Path(explicit)
    from platformdirs import user_data_dir

    return Path(user_data_dir("deploy-studio")) / f"mslite-{LITE_VERSION}"


def venv_python() -> Path:
    """The Lite venv's interpreter (it may not exist yet)."""
    return venv_dir() / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def is_ready() -> bool:
    """True when the venv exists and holds mindspore_lite."""
    site = list(venv_dir().glob("lib/python3.7/site-packages/mindspore_lite/__init__.py"))
    return venv_python().is_file() and bool(site or list(venv_dir().glob("Lib/site-packages/mindspore_lite")))


def unavailable_reason() -> str:
    """Why the mindspore-lite target cannot run here and what to do; empty when it can."""
    if is_ready():
        return ""
    if sys.platform != "linux":
        return "the mindspore-lite 2.0.0 wheel on PyPI is for Linux x86-64 only"
    if find_python37() is None:
        return ("no Python 3.7 found (mindspore-lite 2.0.0, the only Lite wheel on PyPI, needs it): install one "
                "(e.g. pyenv install 3.7.16) or set DSTUDIO_PYTHON37, then run " + SETUP_COMMAND)
    return f"the Lite environment is not set up yet: run {SETUP_COMMAND} (creates {venv_dir()}, ~560 MB from PyPI)"


def setup(log_to=None) -> Path:
    """Create the Lite venv and install ``mindspore-lite`` into it. Returns the venv's interpreter.

    Raises:
        TargetError: no Python 3.7, or venv creation / pip failed (with pip's last line).
    """
    python = find_python37()
    if python is None:
        raise TargetError(unavailable_reason())
    target = venv_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    steps = [[python, "-m", "venv", str(target)],
             [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", LITE_REQUIREMENT]]
    for cmd in steps:
        proc = subprocess.run(cmd, stdout=log_to or subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout or "").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            raise TargetError(f"setting up MindSpore Lite failed at {' '.join(cmd[:3])}: {tail[0]}", path=target)
    return venv_python()


def require() -> Path:
    """The Lite venv's interpreter, or TargetError saying how to get one."""
    reason = unavailable_reason()
    if reason:
        raise TargetError(f"mindspore-lite:cpu is not available: {reason}")
    return venv_python()


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("DSTUDIO_MSLITE_CACHE") or Path(user_cache_dir("deploy-studio")) / "mslite")


QUANT_CONFIG = """[common_quant_param]
quant_type=WEIGHT_QUANT
bit_num=8
min_quant_weight_size=0
min_quant_weight_channel=16
"""


def convert_onnx(onnx_bytes: bytes, *, precision: str = "fp32", use_cache: bool = True,
                 nhwc: bool = False, skip_quant: tuple[str, ...] = ()) -> tuple[Path, bool]:
    """ONNX model bytes -> a ``.ms`` file by Lite's converter, cached by content and options.

    Args:
        onnx_bytes: a serialized ONNX model (weights inside).
        precision: "fp32", "fp16" (Lite's weight_fp16) or "int8" (Lite's 8-bit weight quantization).
        use_cache: reuse an earlier conversion of the same bytes and options.
        nhwc: let Lite turn 4-D inputs to NHWC (its converter's default); by default they stay
            NCHW, as the ONNX graph declares them, so the same feeds run on every target.
        skip_quant: with int8, node names whose weights stay float (Lite's ``skip_quant_node``).

    Returns:
        (path of the ``.ms`` in the cache, True when it came from the cache).

    Raises:
        TargetError: Lite's converter refused the model (its own message).
    """
    if precision not in ("fp32", "fp16", "int8"):
        raise TargetError(f"unknown precision {precision!r} for MindSpore Lite; use fp32, fp16 or int8")
    python = require()
    key = hashlib.sha256(onnx_bytes + f"|{precision}|{nhwc}|{','.join(skip_quant)}|{LITE_VERSION}".encode()).hexdigest()[:32]
    folder = cache_dir()
    out = folder / f"{key}.ms"
    if use_cache and out.is_file():
        os.utime(out)  # recently used: the last to be pruned
        return out, True
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / f"tmp-{key}-{os.getpid()}"
    work.mkdir(exist_ok=True)
    try:
        src = work / "model.onnx"
        src.write_bytes(onnx_bytes)
        cmd = [str(python), str(WORKER), "convert", str(src), str(work / "model")]
        if precision == "fp16":
            cmd.append("--fp16")
        elif precision == "int8":
            skip = f"skip_quant_node={','.join(skip_quant)}\n" if skip_quant else ""
            (work / "quant.cfg").write_text(QUANT_CONFIG + skip)
            cmd += ["--config", str(work / "quant.cfg")]
        if nhwc:
            cmd.append("--nhwc")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, cwd=work)
        except subprocess.TimeoutExpired:
            raise TargetError(f"MindSpore Lite's converter did not finish within {CONVERT_TIMEOUT_S} s") from None
        produced = work / "model.ms"
        if proc.returncode != 0 or not produced.is_file():
            raise TargetError(f"MindSpore Lite's converter refused the model: {_lite_error(proc.stderr + proc.stdout)}")
        produced.chmod(0o644)  # Lite writes its output read-only for the owner
        os.replace(produced, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    prune_cache(folder, keep=out)
    return out, False


def prune_cache(folder: Path | None = None, limit_mb: float | None = None, *, keep: Path | None = None) -> list[Path]:
    """Keep the Lite cache within ``limit_mb``: remove ``.ms`` files least recently used first
    (their modification time, refreshed on every cache hit), never ``keep``; also remove converter
    work folders left by processes that died (older than :data:`STALE_WORK_S`).

    Returns:
        What was removed.
    """
    import time

    folder = folder or cache_dir()
    if limit_mb is None:
        limit_mb = float(os.environ.get("DSTUDIO_MSLITE_CACHE_MB") or CACHE_LIMIT_MB)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for work in folder.glob("tmp-*"):
        try:
            if work.is_dir() and now - work.stat().st_mtime > STALE_WORK_S:
                shutil.rmtree(work, ignore_errors=True)
                removed.append(work)
        except OSError:
            continue
    entries = []
    for path in folder.glob("*.ms"):
        try:
            info = path.stat()
        except OSError:  # another process pruned it meanwhile
            continue
        entries.append((info.st_mtime, info.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit_mb * 2**20:
            break
        if keep is not None and path == keep:
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
    if removed:
        log.info("pruned %d entries from the MindSpore Lite cache %s", len(removed), folder)
    return removed


#: ONNX ops whose weights Lite 2.0 cannot run 8-bit: its CPU MatMul fails to pack a weight-quantized
#: matrix ("pack const-matrix b failed"), so int8 keeps these weights float and says so.
INT8_FLOAT_OPS = ("MatMul", "Gemm")


def model_bytes(model, *, precision: str = "fp32") -> tuple[bytes, tuple[str, ...]]:
    """The canonical ONNX graph of ``model`` as bytes for Lite's converter (one protobuf: under 2 GB).

    Returns:
        (bytes, node names whose weights stay float under int8). For int8, unnamed MatMul/Gemm
        nodes are named in a copy so that Lite's ``skip_quant_node`` can name them.
    """
    graph = model.require_graph()
    skip: tuple[str, ...] = ()
    if precision == "int8" and any(n.op_type in INT8_FLOAT_OPS for n in graph.graph.node):
        import onnx

        copy = onnx.ModelProto()
        copy.CopyFrom(graph)
        used = {n.name for n in copy.graph.node}
        names = []
        for i, node in enumerate(copy.graph.node):
            if node.op_type in INT8_FLOAT_OPS:
                if not node.name:
                    node.name = next(f"{node.op_type}_{i}_{k}" for k in range(len(used) + 1)
                                     if f"{node.op_type}_{i}_{k}" not in used)
                    used.add(node.name)
                names.append(node.name)
        graph, skip = copy, tuple(names)
    try:
        return graph.SerializeToString(), skip
    except ValueError as exc:  # protobuf's 2 GB message limit
        raise TargetError(f"the model is too large to hand to MindSpore Lite's converter as one ONNX file ({exc})",
                          path=model.source_path) from None


def _lite_error(text: str) -> str:
    """The most telling line of Lite's output: our own line, else its last [ERROR] line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("dstudio-mslite:")]
    if ours:
        return ours[-1].split(":", 1)[1].strip()
    errors = [line for line in lines if "[ERROR]" in line]
    pick = errors[-1] if errors else (lines[-1] if lines else "no output")
    return pick.split("] ", 2)[-1][:400] if "[ERROR]" in pick else pick[:400]
