"""Settings of one export, shared by the CLI, the Python API and every pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from .contract import DEFAULT_GROUP_SIZE
from .numerics import Amplifier


@dataclass
class ExportOptions:
    """What ``is-export`` was asked to do.

    group_size: weight group size (power of two >= 32) for float models;
    importers keep the source's group size where it is supported.
    amplifier: float->integer scale policy (numerics.Amplifier).
    target: "trt" (IntScaleGemm nodes for the TensorRT plugin) or "onnxrt"
    (IntScaleGemm expanded into standard ONNX ops).
    exclude: regexes; a node whose name matches any is skipped.
    keep_head: leave the output head (the last linear layer feeding a graph
    output) in float.
    refit: re-round codes to the effective integer scale (float models).
    progress: show a progress bar over layers.
    """

    group_size: int = DEFAULT_GROUP_SIZE
    amplifier: Amplifier = field(default_factory=lambda: Amplifier("safe"))
    target: str = "trt"
    exclude: list[str] = field(default_factory=list)
    keep_head: bool = False
    refit: bool = True
    progress: bool = True

    def to_metadata(self) -> dict:
        """The settings as written into the model's metadata (JSON-able)."""
        return {
            "group_size": self.group_size,
            "amplifier": str(self.amplifier),
            "target": self.target,
            "exclude": list(self.exclude),
            "keep_head": self.keep_head,
            "refit": self.refit,
            "w_bits": 4,
            "a_bits": 8,
        }
