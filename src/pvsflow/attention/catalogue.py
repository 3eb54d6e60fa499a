"""The attention methods by name: the label they carry in tables and figures and the trained
architecture each one uses (docs/method.md, "Attention methods").

Free of torch, so that the workflow plans without importing it; :data:`pvsflow.attention.methods.METHODS`
adds how each method computes its maps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    """An attention method's name, its label and the architecture whose trained network it uses."""

    name: str
    label: str
    architecture: str


METHOD_CATALOGUE: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in [
        MethodSpec("gp_unet", "GP-Unet", "gp_unet"),
        MethodSpec("gp_unet_no_residual", "GP-Unet no residual", "gp_unet_no_residual"),
        MethodSpec("gated_attention", "Gated Attention", "gated_attention"),
        MethodSpec("grad_cam", "Grad-CAM", "base"),
        MethodSpec("grad", "Grad", "base"),
        MethodSpec("guided_backprop", "Guided backprop", "base"),
        MethodSpec("intensity", "Intensity", "base"),
        # Further methods (docs/method.md, "Attention methods"); not in the paper's comparison.
        MethodSpec("frangi", "Frangi", "base"),
        MethodSpec("wildcat", "WILDCAT", "wildcat"),
        MethodSpec("iterative_saliency", "Iterative saliency", "base"),
    ]
}
PAPER_METHODS = (
    "gp_unet",
    "gp_unet_no_residual",
    "gated_attention",
    "grad_cam",
    "grad",
    "guided_backprop",
    "intensity",
)
