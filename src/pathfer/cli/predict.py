"""``pathfer predict`` and ``pathfer export``: use a trained model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Optional  # noqa: UP035 - typer reads the annotations at runtime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fail(err: Console, message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def predict(
    inputs: list[str] = typer.Argument(
        ...,
        metavar="INPUT...",
        help="Images, videos, folders (searched recursively) or glob patterns.",
    ),
    model: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", "-m", help="Model bundle (.safetensors) [default: FER2013 mini-Xception]."
    ),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", "-o", help="Per-frame results: .csv, .json or .parquet."
    ),
    annotate: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--annotate",
        "-a",
        help="Write video(s) with boxes and labels: a file (one input) or a folder.",
    ),
    every: int = typer.Option(1, "--every", "-k", min=1, help="Analyse every K-th frame."),
    all_faces: bool = typer.Option(
        False, "--all-faces", help="One row per detected face (default: the largest only)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Face crops per model call."),
    threads: int = typer.Option(
        1, "--threads", min=0, help="Torch threads for the classifier (0: torch's default)."
    ),
) -> None:
    """Recognise facial emotions frame by frame in images and videos."""
    from pathfer.use.bundle import BundleError
    from pathfer.use.predict import (
        RESULT_FORMATS,
        Recognizer,
        predict_paths,
        prob_columns,
        summarize,
        write_results,
    )

    console = Console()
    err = Console(stderr=True)
    if out is not None and out.suffix.lower() not in RESULT_FORMATS:
        _fail(err, f"{out}: unknown results format; use .csv, .json or .parquet")
    try:
        rec = Recognizer.from_bundle(model, threads=threads or None)
    except (BundleError, ValueError) as exc:
        _fail(err, str(exc))

    def on_skip(item: str, reason: str) -> None:
        err.print(f"[yellow]warning:[/] {escape(item)}: {escape(reason)}; skipped", soft_wrap=True)

    try:
        df = predict_paths(
            inputs,
            rec,
            every=every,
            all_faces=all_faces,
            batch_size=batch_size,
            annotate=annotate,
            on_skip=on_skip,
        )
    except ValueError as exc:
        _fail(err, str(exc))
    if df.empty:
        _fail(err, "no readable image or video among the inputs; nothing to predict")

    summary = summarize(df)
    labels = prob_columns(df)
    table = Table(title=f"pathfer predict ({rec.meta.get('architecture', 'model')})")
    table.add_column("file", overflow="fold", min_width=12)
    table.add_column("frames", justify="right")
    table.add_column("face", justify="right")
    table.add_column("top emotion", no_wrap=True)
    for label in labels:
        table.add_column(label[:4], justify="right")
    for r in summary.to_dict("records"):
        has_face = isinstance(r["top_emotion"], str)
        probs = [f"{r[c]:.2f}" if has_face else "-" for c in labels]
        top = f"{r['top_emotion']} {r['top_prob']:.2f}" if has_face else "no face"
        table.add_row(
            escape(Path(r["file"]).name), str(r["frames"]), f"{r['face_share']:.0%}", top, *probs
        )
    console.print(table)
    if out is not None:
        try:
            path = write_results(df, out)
        except (OSError, ValueError, ImportError) as exc:
            _fail(err, f"{out}: cannot write results ({exc})")
        console.print(f"per-frame results ({len(df)} rows) -> {escape(str(path))}")
    else:
        console.print(f"{len(df)} per-frame rows (not saved; use --out results.csv)")
    for p in df.attrs.get("annotated", []):
        console.print(f"annotated -> {escape(p)}")
    skipped = df.attrs.get("skipped", [])
    if skipped:
        err.print(f"[yellow]{len(skipped)} input(s) skipped[/]")


def export(
    bundle: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="Model bundle (.safetensors) [default: FER2013 mini-Xception]."
    ),
    onnx: Path = typer.Option(..., "--onnx", help="Output ONNX file."),
    opset: int = typer.Option(17, "--opset", min=9, help="ONNX opset version."),
    logits: bool = typer.Option(False, "--logits", help="Output logits instead of probabilities."),
) -> None:
    """Export a model bundle to ONNX (input (B,1,S,S) in [0,1], dynamic batch)."""
    from pathfer.use.bundle import BundleError
    from pathfer.use.export import export_onnx

    console = Console()
    err = Console(stderr=True)
    try:
        path = export_onnx(bundle, onnx, opset, output="logits" if logits else "probabilities")
    except (BundleError, ValueError, RuntimeError, OSError) as exc:
        _fail(err, str(exc))
    console.print(f"ONNX model -> {escape(str(path))}")
