"""The mindspore-lite:cpu target against MindSpore's own outputs; skips without the Lite venv (Python 3.7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import formats
from engine.backends import mslite_env, open_session
from tests_helpers import fixture_by_name

REASON = mslite_env.unavailable_reason()
pytestmark = pytest.mark.skipif(bool(REASON), reason=f"mindspore-lite:cpu unavailable: {REASON}")

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """One conversion cache for this test session, not the user's."""
    monkeypatch.setenv("DSTUDIO_MSLITE_CACHE", str(tmp_path_factory.getbasetemp() / "mslite-cache"))


def _run(model, feeds):
    with open_session(model, "mindspore-lite:cpu") as session:
        return session, list(session.infer(feeds).values())


@pytest.mark.parametrize("name", ["lenet5", "mobilenetv2_small"])
def test_mindir_runs_on_lite_and_matches_mindspore(name):
    fx = fixture_by_name(name)
    model = formats.load(fx.mindir)
    feeds = {model.require_graph().graph.input[0].name: fx.inputs()[0]}
    session, outs = _run(model, feeds)
    assert "converted from ONNX by Lite's converter" in session.info["ms"]
    np.testing.assert_allclose(outs[0], fx.expected()[0], rtol=1e-4, atol=1e-5)


def test_committed_ms_file_runs_as_it_is():
    fx = fixture_by_name("lenet5")
    model = formats.load(DATA / "mslite" / "lenet5.ms")
    nhwc = np.ascontiguousarray(fx.inputs()[0].transpose(0, 2, 3, 1))  # Lite's default input layout
    session, outs = _run(model, {"x": nhwc})
    assert session.info["ms"] == "source file"
    np.testing.assert_allclose(outs[0], fx.expected()[0], rtol=1e-4, atol=1e-5)


def test_timing_streams_latencies_and_an_early_stop_leaves_the_session_usable():
    fx = fixture_by_name("lenet5")
    model = formats.load(fx.mindir)
    feeds = {"x": fx.inputs()[0]}
    with open_session(model, "mindspore-lite:cpu") as session:
        lat = list(session.timed(feeds, iterations=20))
        assert len(lat) == 20 and all(isinstance(v, int) and v > 0 for v in lat)
        runs = session.timed(feeds, duration_s=30.0)
        next(runs)
        runs.close()  # stop long before 30 s
        out = session.infer(feeds)
    np.testing.assert_allclose(list(out.values())[0], fx.expected()[0], rtol=1e-4, atol=1e-5)


def test_converter_refusal_is_one_line(tmp_path):
    from engine.errors import TargetError

    with pytest.raises(TargetError, match="converter refused the model"):
        mslite_env.convert_onnx(b"not an onnx model")


@pytest.mark.parametrize("precision, atol", [("fp32", 1e-5), ("fp16", 2e-2)])
def test_cli_convert_writes_ms_that_we_open_and_lite_runs(tmp_path, capsys, precision, atol):
    from engine.cli import main

    fx = fixture_by_name("lenet5")
    out = tmp_path / "model.ms"
    assert main(["convert", str(fx.mindir), "-o", str(out), "--precision", precision]) == 0
    assert "mslite" in capsys.readouterr().out
    model = formats.load(out)
    assert model.source_format == "mslite"
    assert {"Conv2DFusion", "MaxPoolFusion", "MatMulFusion"} <= {n.op_type for n in model.source_nodes}
    inputs, _ = model.io_specs()
    assert inputs[0].shape == (1, 1, 32, 32)  # the graph's NCHW input is kept
    session, outs = _run(model, {inputs[0].name: fx.inputs()[0]})
    np.testing.assert_allclose(outs[0], fx.expected()[0], rtol=1e-3, atol=atol)


def test_int8_ms_that_lite_cannot_load_says_where_lite_failed():
    """Lite 2.0's CPU runtime cannot pack its own 8-bit MatMul weights; the error names Lite's step."""
    from engine.errors import TargetError

    model = formats.load(DATA / "mslite" / "lenet5_int8.ms")
    with pytest.raises(TargetError, match=r"cannot load the model.*\(Lite: .*pack"):
        _run(model, {"x": np.zeros((1, 1, 32, 32), np.float32)})


def test_lite_reads_a_version_1_mindir_we_write(tmp_path):
    """Lite 2.0 refuses MindSpore 2.10's version-3 MindIR; the version-1 file our writer makes, it runs."""
    import subprocess

    import onnxruntime as ort

    from engine.formats import mindir_versions
    from test_mindir_versions import conv_pool_onnx

    src = conv_pool_onnx(tmp_path / "cp.onnx")
    mindir_versions.save(formats.load(src), tmp_path / "cp.mindir", None, version=1)
    x = np.random.RandomState(1).randn(1, 1, 8, 8).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, mindspore_lite as m; d = sys.argv[1]; c = m.Context(); c.target = ['cpu']; "
            "net = m.Model(); net.build_from_file(d + '/cp.mindir', m.ModelType.MINDIR, c); i = net.get_inputs(); "
            "i[0].set_data_from_numpy(np.load(d + '/x.npy')); np.save(d + '/y.npy', net.predict(i)[0].get_data_to_numpy())")
    subprocess.run([str(mslite_env.venv_python()), "-c", code, str(tmp_path)], check=True, capture_output=True,
                   timeout=600)
    want = ort.InferenceSession(str(src)).run(None, {"x": x})[0]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-5, atol=1e-5)


def test_int8_quantizes_conv_weights_keeps_matmul_float_and_runs(tmp_path, caplog):
    """Lite 2.0 cannot run its own 8-bit MatMul weights, so int8 leaves those float and says so."""
    from engine.cli import main

    fx = fixture_by_name("mobilenetv2_small")
    fp32, int8 = tmp_path / "fp32.ms", tmp_path / "int8.ms"
    assert main(["convert", str(fx.mindir), "-o", str(fp32)]) == 0
    with caplog.at_level("WARNING"):
        assert main(["convert", str(fx.mindir), "-o", str(int8), "--precision", "int8"]) == 0
    assert "keeps the weights of 1 MatMul/Gemm node(s) float" in caplog.text
    assert int8.stat().st_size < 0.8 * fp32.stat().st_size
    model = formats.load(int8)
    assert "conv.weight (int8" in model.metadata["quantized"]
    inputs, _ = model.io_specs()
    _, outs = _run(model, {inputs[0].name: fx.inputs()[0]})
    want = fx.expected()[0]
    cosine = float((outs[0] * want).sum() / np.linalg.norm(outs[0]) / np.linalg.norm(want))
    assert cosine > 0.999 and (outs[0].argmax(-1) == want.argmax(-1)).all()


def test_lite_cache_is_pruned_least_recently_used_first(tmp_path, monkeypatch):
    """Over its limit the cache drops the oldest conversions (never the one just made) and dead work folders."""
    import os
    import time

    from engine.backends import mslite_env

    now = time.time()
    sizes = {"old": 3, "mid": 3, "new": 3, "kept": 3}  # MiB
    for age, name in enumerate(["new", "mid", "old"], start=1):
        path = tmp_path / f"{name}.ms"
        path.write_bytes(b"\0" * (sizes[name] << 20))
        os.utime(path, (now - 100 * age, now - 100 * age))
    kept = tmp_path / "kept.ms"
    kept.write_bytes(b"\0" * (sizes["kept"] << 20))
    os.utime(kept, (now - 10_000, now - 10_000))  # the oldest, but the conversion just made
    dead, live = tmp_path / "tmp-abc-1", tmp_path / "tmp-def-2"
    dead.mkdir()
    live.mkdir()
    os.utime(dead, (now - 2 * mslite_env.STALE_WORK_S, now - 2 * mslite_env.STALE_WORK_S))
    monkeypatch.setenv("DSTUDIO_MSLITE_CACHE_MB", "7")

    removed = mslite_env.prune_cache(tmp_path, keep=kept)

    assert set(removed) == {dead, tmp_path / "old.ms", tmp_path / "mid.ms"}  # 12 MiB -> 6 MiB, within 7
    assert kept.is_file() and (tmp_path / "new.ms").is_file() and live.is_dir()
    assert mslite_env.prune_cache(tmp_path, keep=kept) == []  # within the limit: nothing more goes
