"""Every dense activation, as each adapter applies it, against Keras's own function of that
name (``keras.activations.get``): the config names Keras activations, with Keras's defaults."""

from __future__ import annotations

from typing import Any

import pytest

from rnncalc.core.parts import DenseActivation

keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")

#: Values on both sides of every kink (0, ±1, ±3, 6) and large enough to saturate.
X = np.array([[-7.0, -3.5, -3.0, -1.2, -0.4, 0.0, 0.3, 1.0, 2.5, 3.0, 5.9, 6.5]], dtype=np.float32)


def _keras(activation: DenseActivation) -> Any:
    return np.asarray(keras.ops.convert_to_numpy(keras.activations.get(activation.value)(X)))


@pytest.mark.parametrize("activation", list(DenseActivation), ids=lambda a: a.value)
def test_pytorch_applies_the_keras_activation(activation: DenseActivation) -> None:
    torch = pytest.importorskip("torch")
    from rnncalc.frameworks.torch import ACTIVATIONS, _activation

    got = _activation(ACTIVATIONS[activation])(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(got, _keras(activation), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", list(DenseActivation), ids=lambda a: a.value)
def test_flax_applies_the_keras_activation(activation: DenseActivation) -> None:
    pytest.importorskip("jax")
    from rnncalc.frameworks.flax import ACTIVATIONS, _activation

    got = np.asarray(_activation(ACTIVATIONS[activation])(X))
    np.testing.assert_allclose(got, _keras(activation), rtol=1e-5, atol=1e-6)


def test_onnx_applies_every_keras_activation() -> None:
    """One graph with every activation's operators side by side, run once in onnxruntime."""
    pytest.importorskip("onnxruntime")
    from rnncalc.frameworks.onnx import GraphPlan, Tensor, _GraphBuilder, build, run

    builder = _GraphBuilder()
    outputs = []
    for activation in DenseActivation:
        out = builder.activation(activation, "X", activation.value)
        builder.add("Identity", [out], [f"out_{activation.value}"], f"out_{activation.value}")
        outputs.append(Tensor(f"out_{activation.value}", X.shape))
    plan = GraphPlan((Tensor("X", X.shape),), (), tuple(builder.nodes), tuple(outputs))
    results = run(build(plan, {}), {"X": X})
    for activation in DenseActivation:
        got = results[f"out_{activation.value}"]
        np.testing.assert_allclose(got, _keras(activation), rtol=1e-5, atol=1e-6, err_msg=activation.value)
