"""sentence-transformers ``Dense`` modules: the linear projections after pooling.

Loads each module's weights (``model.safetensors`` or ``pytorch_model.bin``, keys
``linear.weight``/``linear.bias``/``residual.weight``) and applies them with their activation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch.nn import functional

from ember.engines.errors import ModelLoadError
from ember.engines.model_folder import DenseLayer

_ACTIVATIONS: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda x: x,
    "tanh": torch.tanh,
    "relu": functional.relu,
    "gelu": functional.gelu,
    "sigmoid": torch.sigmoid,
    "silu": functional.silu,
    "leaky_relu": functional.leaky_relu,
}


class DenseProjection(torch.nn.Module):
    """One loaded Dense module: ``activation(linear(x))`` (+ ``x`` or ``residual(x)``)."""

    def __init__(self, layer: DenseLayer, weights: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias)
        self.residual: torch.nn.Linear | None = None
        if layer.use_residual and layer.in_features != layer.out_features:
            self.residual = torch.nn.Linear(layer.in_features, layer.out_features, bias=False)
        self.use_residual = layer.use_residual
        self.activation = _ACTIVATIONS[layer.activation]
        try:
            self.load_state_dict(dict(weights), strict=True)
        except RuntimeError as exc:
            raise ModelLoadError(f"{str(layer.path)!r}: Dense weights do not fit: {exc}") from exc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.activation(self.linear(x))
        if self.use_residual:
            out = out + (x if self.residual is None else self.residual(x))
        return out


def load_dense(layer: DenseLayer) -> DenseProjection:
    """Load one Dense module from its folder (float32, on the CPU; move it with ``.to``)."""
    safetensors_file = layer.path / "model.safetensors"
    if safetensors_file.is_file():
        from safetensors.torch import load_file

        weights: dict[str, torch.Tensor] = load_file(str(safetensors_file))
    else:
        weights = torch.load(
            layer.path / "pytorch_model.bin", map_location="cpu", weights_only=True
        )
    weights = {k: v.to(torch.float32) for k, v in weights.items()}
    return DenseProjection(layer, weights)
