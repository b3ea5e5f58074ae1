"""The engine's layers import downwards only: backends below the optimizer, precision above both."""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("engine")


def test_backends_never_reach_the_optimizer_or_precision(graph) -> None:
    # The old circle: engine.backends.precision -> engine.optimize -> engine.optimize.gate -> engine.backends.
    # (engine.bench.profile, plain profile records, is data the ONNX Runtime backend fills in: allowed.)
    for upper in ("engine.optimize", "engine.precision", "engine.bench.runner", "engine.validate.runner"):
        chain = graph.find_shortest_chains(importer="engine.backends", imported=upper, as_packages=True)
        assert not chain, f"engine.backends reaches {upper}: {sorted(chain)}"


def test_the_optimizer_does_not_reach_precision_or_the_runners(graph) -> None:
    for upper in ("engine.precision", "engine.bench.runner", "engine.validate.runner"):
        assert not graph.chain_exists(importer="engine.optimize", imported=upper, as_packages=True), upper


def test_backends_refuse_a_precision_they_cannot_apply() -> None:
    from engine import formats
    from engine.backends import TargetOptions, open_session
    from engine.errors import TargetError
    from tests_helpers import fixture_by_name

    model = formats.load(fixture_by_name("lenet5").onnx)
    with pytest.raises(TargetError, match="engine.precision.open_session"):
        open_session(model, "onnxruntime:cpu", TargetOptions(precision="fp16"))
