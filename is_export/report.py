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


def print_report(report: ExportReport) -> None:
    """Print the per-layer table (rich) to stdout."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="is-export: per-layer report", show_lines=False)
    for col in ("node", "status", "importer", "K", "N", "group", "amplifier", "S range",
                "|acc| bound / 2^31", "SQNR int dB", "SQNR float dB", "note"):
        table.add_column(col, overflow="fold")
    for r in report.layers:
        if r.status == "rewritten":
            bound = f"{r.acc_bound / (INT32_MAX + 1):.3f}" + (" OVERFLOW?" if r.may_overflow else "")
            note = "head" if r.is_head else ""
            if "shares_weight_with" in r.extra:
                note = (note + " shares " + r.extra["shares_weight_with"]).strip()
            table.add_row(r.node, r.status, r.importer, str(r.k), str(r.n), str(r.group_size),
                          r.amplifier or "", f"{r.s_min}..{r.s_max}", bound,
                          f"{r.sqnr_int_db:.2f}", f"{r.sqnr_float_db:.2f}", note)
        else:
            table.add_row(r.node, r.status, r.importer, "", "", "", "", "", "", "", "",
                          (r.reason + (" (head)" if r.is_head else "")))
    Console(width=200).print(table)
