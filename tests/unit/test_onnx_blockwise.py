"""``blockwise_int8``: fp32 MatMuls rewritten to ONNX Runtime's block-wise 8-bit MatMulNBits,
run for real by ONNX Runtime on a small graph and compared with the fp32 product."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ember.engines.onnx_export import blockwise_int8
from ember.engines.runtimes import import_onnxruntime

ort = import_onnxruntime()


def _graph(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """x -> MatMul(w) per weight, in a chain; the last output is ``y``."""
    nodes, inits, current = [], [], "x"
    for index, (name, weight) in enumerate(weights.items()):
        out = "y" if index == len(weights) - 1 else f"h{index}"
        nodes.append(helper.make_node("MatMul", [current, name], [out], name=f"mm_{name}"))
        inits.append(numpy_helper.from_array(weight, name))
        current = out
    first = next(iter(weights.values()))
    last = list(weights.values())[-1]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", first.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", last.shape[1]])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(None, {"x": x})[0]
    return result


def test_rewritten_matmul_matches_fp32_within_8bit_error() -> None:
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(96, 40)).astype(np.float32)
    weight[5, :] *= 30  # an outlier input channel: only its own blocks lose precision
    x = rng.normal(size=(7, 96)).astype(np.float32)
    x[:, 70] *= 50  # an outlier activation channel
    model = _graph({"w": weight})
    expected = _run(model, x)
    assert blockwise_int8(model, ["mm_w"]) == ["mm_w"]
    (node,) = model.graph.node
    assert node.op_type == "MatMulNBits"
    assert node.domain == "com.microsoft"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs == {"K": 96, "N": 40, "bits": 8, "block_size": 32, "accuracy_level": 4}
    assert [i.name for i in model.graph.initializer] == ["mm_w/q8_weight", "mm_w/q8_scales"]
    assert any(o.domain == "com.microsoft" for o in model.opset_import)
    got = _run(model, x)
    norms = np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1)
    cosines = (expected * got).sum(1) / norms
    assert cosines.min() > 0.999
    assert np.abs(got - expected).max() < 0.02 * np.abs(expected).max()


def test_only_named_qualifying_matmuls_are_rewritten() -> None:
    rng = np.random.default_rng(1)
    weights = {
        "a": rng.normal(size=(64, 64)).astype(np.float32),  # named, K = 64: rewritten
        "b": rng.normal(size=(64, 40)).astype(np.float32),  # not named: stays fp32
        "c": rng.normal(size=(40, 8)).astype(np.float32),  # K = 40, not a multiple of 32
    }
    model = _graph(weights)
    x = rng.normal(size=(3, 64)).astype(np.float32)
    expected = _run(model, x)
    assert blockwise_int8(model, ["mm_a", "mm_c"]) == ["mm_a"]
    assert [n.op_type for n in model.graph.node] == ["MatMulNBits", "MatMul", "MatMul"]
    names = {i.name for i in model.graph.initializer}
    assert names == {"mm_a/q8_weight", "mm_a/q8_scales", "b", "c"}
    got = _run(model, x)
    assert np.allclose(got, expected, rtol=0.05, atol=0.05 * np.abs(expected).max())
