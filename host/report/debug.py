"""``host debug`` shown: a ranked console table, an HTML page with the error by layer depth, the
JSON, and Model Explorer's node data."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

from host.fsio import atomic_write
from host.quant.service import model_explorer_data, report_json
from host.report.figures import png, pyplot

if TYPE_CHECKING:
    from rich.console import Console

    from host.quant.debug import LayerError
    from host.quant.device_time import DeviceTime
    from host.quant.service import DebugReport

HEADER = ("#", "layer", "op", "depth", "RMSE/scale", "signal lost", "collapsed", "suspect because")
CONSOLE = (0, 1, 2, 4, 5, 6)  # the console's columns; the reasons follow the table


def rows(report: DebugReport, top: int | None = None) -> list[tuple[str, ...]]:
    return [
        (
            str(i),
            e.layer,
            e.op_type,
            str(e.depth),
            f"{e.rmse_over_scale:.3f}",
            f"{e.signal_lost:.1%}",
            f"{e.collapsed_channels}/{e.live_channels}",
            "; ".join(e.suspect_reasons) or "-",
        )
        for i, e in enumerate(report.layers[:top] if top else report.layers, 1)
    ]


def summary(report: DebugReport) -> str:
    suspects = report.suspects
    named = ", ".join(e.layer for e in suspects[:5]) + (" ..." if len(suspects) > 5 else "")
    return (
        f"{report.model}: {len(report.layers)} quantized ops measured on {report.debug_images} images "
        f"(calibrated on {report.calibration_images}); {len(suspects)} suspect"
        + (f": {named}" if suspects else "")
        + (
            f". Try: host convert {report.model_arg or report.model} --keep-float {','.join(report.suggestion)} "
            "(or let 'host tune' find what the device needs)"
            if report.suggestion
            else ""
        )
    )


def print_debug(
    report: DebugReport, top: int, console: Console | None = None, device_time: DeviceTime | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Quantization error per layer ({report.mode}), worst first")
    for column in CONSOLE:
        table.add_column(HEADER[column], justify="right" if column in (0, 4, 5) else "left", no_wrap=True)
    if device_time is not None:
        table.add_column(f"{device_time.backend} time", justify="right", no_wrap=True)
    validated = any(e.validator_mse is not None for e in report.layers)
    if validated:  # the LiteRT quantizer's own validator, per tensor, beside our per-channel figures
        table.add_column("validator MSE / SNR", justify="right", no_wrap=True)
    for row, error in zip(rows(report, top), report.layers, strict=False):
        extra: tuple[str, ...] = (device_time.share(error.layer),) if device_time is not None else ()
        if validated:
            extra += (
                "-" if error.validator_mse is None else f"{error.validator_mse:.3g} / {error.validator_snr or 0:.3g}",
            )
        table.add_row(*(row[i] for i in CONSOLE), *extra, style="bold red" if error.suspect else None)
    console.print(table)
    for i, error in enumerate(report.layers, 1):
        if error.suspect:
            cost = (
                f"; {device_time.describe(error.layer)}"
                if device_time is not None and error.layer in device_time.shares
                else ""
            )
            console.print(
                f"suspect {i}: {error.layer} ({error.op_type}, depth {error.depth}): "
                f"{'; '.join(error.suspect_reasons)}{cost}"
            )
    if device_time is not None and device_time.note:
        console.print(f"device time: {device_time.note}")
    console.print(
        "RMSE/scale: the tensor's error in quantization steps (0.289 is perfect rounding, over 0.7 suspect). "
        "signal lost: per channel, error over the channel's own spread, averaged; it sees the channels an "
        "outlier channel squeezed onto a few steps, which RMSE/scale hides."
    )
    if validated:
        console.print(
            "this build is the LiteRT quantizer's: each op's output is compared with the float build's (the error "
            "as it accumulates through the graph); the validator's MSE and SNR are per tensor, so an outlier "
            "channel that squeezes the others shows in signal lost and not in them."
        )
    console.print(summary(report))


def error_chart(layers: list[LayerError]) -> str:
    """Signal lost per op in graph order (bars, suspects red) with RMSE/scale on the right axis."""
    plt = pyplot()
    ordered = sorted(layers, key=lambda e: e.depth)
    fig, ax = plt.subplots(figsize=(max(7.0, 0.28 * len(ordered)), 4.2))
    x = list(range(len(ordered)))
    ax.bar(x, [100 * e.signal_lost for e in ordered], color=["#c0392b" if e.suspect else "#5b8def" for e in ordered])
    ax.set_ylabel("signal lost per channel (%)")
    ax.set_xticks(x, [e.layer for e in ordered], rotation=90, fontsize=7)
    right = ax.twinx()
    right.plot(x, [e.rmse_over_scale for e in ordered], color="#333", marker=".", linewidth=1, label="RMSE/scale")
    right.axhline(0.7, color="#999", linestyle="--", linewidth=0.8)
    right.set_ylabel("RMSE / scale (steps); dashed: 0.7")
    ax.set_title("Quantization error by layer depth (red: suspect)")
    return png(fig)


def debug_html(report: DebugReport) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        ('<tr class="bad">' if e.suspect else "<tr>") + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
        for row, e in zip(rows(report), report.layers, strict=False)
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>quantization error: " + html.escape(report.model) + "</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px} table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:3px 8px} tr.bad td{color:#a33;font-weight:600}</style>"
        f"<h1>{html.escape(report.model)}: which layers lose accuracy in {html.escape(report.mode)}</h1>"
        f"<p>{html.escape(summary(report))}</p>"
        f'<figure id="error-by-depth"><img alt="error by layer depth" '
        f'src="data:image/png;base64,{error_chart(list(report.layers))}">'
        "<figcaption>Bars: per-channel signal lost; line: per-tensor RMSE in quantization steps.</figcaption></figure>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def write_debug(report: DebugReport, integer_build: bytes, out: Path) -> dict[str, Path]:
    """DIR/<mode>.tflite (integer.tflite for TensorFlow's), debug.json, model-explorer.json and
    debug.html, each written atomically; the paths by file name."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        f"{report.mode}.tflite": integer_build,
        "debug.json": json.dumps(report_json(report), indent=2).encode(),
        "model-explorer.json": json.dumps(model_explorer_data(report), indent=2).encode(),
        "debug.html": debug_html(report).encode(),
    }
    for name, data in files.items():
        atomic_write(out / name, data)
    return {name: out / name for name in files}
