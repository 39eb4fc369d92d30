"""The per-layer report of an export: one record per candidate linear layer.

Passes append :class:`LayerRecord` rows; the CLI prints them as a table and
writes them as JSON (``--report``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .contract import INT32_MAX


@dataclass
class LayerRecord:
    """What happened to one linear layer.

    status is "rewritten" or "skipped"; a skipped layer has a reason.
    importer names the pass that handled it ("float", "qdq", "matmulnbits").
    Numbers are None where they do not apply (e.g. on a skipped layer).
    """

    node: str
    op: str
    status: str
    importer: str = "float"
    reason: str = ""
    k: int | None = None
    n: int | None = None
    group_size: int | None = None
    amplifier: str | None = None
    s_min: int | None = None
    s_max: int | None = None
    acc_bound: int | None = None
    sqnr_int_db: float | None = None
    sqnr_float_db: float | None = None
    is_head: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def may_overflow(self) -> bool:
        return self.acc_bound is not None and self.acc_bound > INT32_MAX


@dataclass
class ExportReport:
    """All records of one export plus the settings used."""

    settings: dict
    layers: list[LayerRecord] = field(default_factory=list)

    @property
    def rewritten(self) -> list[LayerRecord]:
        return [r for r in self.layers if r.status == "rewritten"]

    @property
    def skipped(self) -> list[LayerRecord]:
        return [r for r in self.layers if r.status == "skipped"]

    def to_json(self) -> dict:
        rows = []
        for r in self.layers:
            d = asdict(r)
            d["may_overflow"] = r.may_overflow
            d["acc_bound_vs_int32"] = None if r.acc_bound is None else r.acc_bound / INT32_MAX
            rows.append(d)
        return {
            "settings": self.settings,
            "summary": {"rewritten": len(self.rewritten), "skipped": len(self.skipped)},
            "layers": rows,
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, default=_json_default))


def _json_default(o):
    if o == float("inf"):
        return "inf"
    return str(o)
