"""``pathfer predict`` and ``pathfer export``: use a trained model bundle."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, Optional  # noqa: UP035 - typer reads the annotations at runtime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pathfer.cli.choices import one_of

DEFAULT_MODEL = "the built-in FER2013 mini-Xception"


def _fail(err: Console, message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def _camera_source(camera: str) -> int | str:
    return int(camera) if camera.strip().isdigit() else camera


def _summary_table(summary, labels: list[str], title: str) -> Table:  # noqa: ANN001
    table = Table(title=title)
    table.add_column("file", overflow="fold", min_width=12)
    table.add_column("frames", justify="right")
    table.add_column("face", justify="right")
    table.add_column("top emotion", no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right")
    for r in summary.to_dict("records"):
        has_face = isinstance(r["top_emotion"], str)
        probs = [f"{r[c]:.2f}" if has_face else "-" for c in labels]
        top = f"{r['top_emotion']} {r['top_prob']:.2f}" if has_face else "no face"
        table.add_row(
            escape(Path(r["file"]).name), str(r["frames"]), f"{r['face_share']:.0%}", top, *probs
        )
    return table


def _print_table(console: Console, table: Table) -> None:
    """The table at its natural width when piped (rich would squeeze it to 80 columns)."""
    if not console.is_terminal:
        wide = console.measure(table, options=console.options.update_width(10_000)).maximum
        console = Console(width=max(console.width, wide))
    console.print(table)


def predict(
    inputs: Optional[list[str]] = typer.Argument(  # noqa: UP045
        None,
        metavar="INPUT...",
        help="Images, videos, folders (searched recursively) or glob patterns.",
        show_default=False,
    ),
    model: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", "-m", help="Model bundle (.safetensors).", show_default=DEFAULT_MODEL
    ),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", "-o", help="Per-frame results: .csv, .json or .parquet.", show_default=False
    ),
    summary_file: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--summary", help="One row per input: .csv, .json or .parquet.", show_default=False
    ),
    timeline: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--timeline",
        help="PNG of each emotion's probability over time (top emotion shaded).",
        show_default=False,
    ),
    annotate: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--annotate",
        "-a",
        help="Video(s) with boxes and labels (H.264 .mp4): a file (one input) or a folder.",
        show_default=False,
    ),
    camera: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--camera",
        help="Predict live from a camera index (0, 1, ...) or a stream URL: a window where a "
        "display exists, else CSV rows on stdout as frames arrive. Stop with q or Ctrl-C.",
        show_default=False,
    ),
    max_frames: Optional[int] = typer.Option(  # noqa: UP045
        None, "--max-frames", min=1, help="Stop --camera after N frames.", show_default="no limit"
    ),
    every: int = typer.Option(1, "--every", "-k", min=1, help="Analyse every K-th frame."),
    all_faces: bool = typer.Option(
        False, "--all-faces", help="One row per detected face (default: the largest only)."
    ),
    detector: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--detector",
        metavar="DETECTOR",
        callback=one_of("DETECTOR"),
        help="Face detector.",
        show_default="the bundle's",
    ),
    track: bool = typer.Option(
        True, help="Search near the previous face first, a downscaled frame when lost (faster)."
    ),
    device: Literal["cpu", "cuda", "mps"] = typer.Option("cpu", help="Where the model runs."),
    workers: int = typer.Option(
        1, "--workers", "-j", min=1, help="Files read at once (processes), for many inputs."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Face crops per model call."),
    threads: int = typer.Option(
        1, "--threads", min=0, help="Torch threads for the classifier (0: torch's default)."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bar and no summary table; errors still shown."
    ),
) -> None:
    """Recognise facial emotions frame by frame in images, videos and camera streams."""
    from pathfer.data.video import VideoError
    from pathfer.use.bundle import BundleError
    from pathfer.use.predict import PredictInterrupted, Recognizer, summarize, write_results
    from pathfer.use.predict.results import check_format, check_writable

    console = Console()
    err = Console(stderr=True)
    if not inputs and camera is None:
        _fail(err, "nothing to predict: give INPUT files or folders, or --camera 0")
    if inputs and camera is not None:
        _fail(err, "give INPUT files or --camera, not both")
    try:
        for path, what in ((out, "results"), (summary_file, "summary")):
            if path is not None:
                check_writable(check_format(path, what))
        if timeline is not None:
            if timeline.suffix.lower() != ".png":
                raise ValueError(f"{timeline}: the timeline is a PNG; name it with .png")
            check_writable(timeline)
        if annotate is not None:
            check_writable(annotate, folder=annotate.suffix == "" or annotate.is_dir())
        rec = Recognizer.from_bundle(
            model, threads=threads or None, device=device, detector=detector, track=track
        )
    except (BundleError, ValueError) as exc:
        _fail(err, str(exc))

    def on_skip(item: str, reason: str) -> None:
        err.print(f"[yellow]warning:[/] {escape(item)}: {escape(reason)}; skipped", soft_wrap=True)

    interrupted = False
    try:
        if camera is not None:
            df = _live(rec, _camera_source(camera), every, all_faces, max_frames, out)
        else:
            df = rec.predict_paths(
                inputs,
                every=every,
                all_faces=all_faces,
                batch_size=batch_size,
                annotate=annotate,
                workers=workers,
                progress=not quiet,
                on_skip=on_skip,
            )
    except PredictInterrupted as exc:
        df, interrupted = exc.partial, True
    except (ValueError, OSError, VideoError) as exc:
        _fail(err, str(exc))
    if df.empty and not interrupted:
        _fail(err, "no readable image or video among the inputs; nothing to predict")

    labels = rec.labels
    summary = summarize(df, labels)
    if not quiet and camera is None and not df.empty:
        title = f"pathfer predict ({rec.meta.get('architecture', 'model')})"
        _print_table(console, _summary_table(summary, labels, title))
    written = []
    try:
        if out is not None:
            written.append(f"per-frame results ({len(df)} rows) -> {write_results(df, out)}")
        if summary_file is not None:
            written.append(
                f"summary ({len(summary)} rows) -> {write_results(summary, summary_file)}"
            )
        if timeline is not None and not df.empty:
            df.plot_timeline(timeline)
            written.append(f"timeline -> {timeline}")
    except (OSError, ValueError, ImportError) as exc:
        _fail(err, f"cannot write the results ({exc})")
    info = err if camera is not None else console  # stdout holds the rows when streaming
    if not quiet:
        for line in written:
            info.print(escape(line), soft_wrap=True)
        if out is None and camera is None:
            info.print(f"{len(df)} per-frame rows (not saved; use --out results.csv)")
        for p in df.attrs.get("annotated", []):
            info.print(f"annotated -> {escape(p)}", soft_wrap=True)
    skipped = df.attrs.get("skipped", [])
    if skipped:
        err.print(f"[yellow]{len(skipped)} input(s) skipped[/]")
    if interrupted:
        saved = " (partial results saved above)" if written else ""
        err.print(f"[yellow]interrupted[/] after {len(df)} rows{saved}")
        raise typer.Exit(130)


def _live(rec, source, every, all_faces, max_frames, out):  # noqa: ANN001, ANN202
    from pathfer.use.predict.live import CsvRows, has_display, run_live

    window = has_display()
    rows = None if window else CsvRows(sys.stdout)
    return run_live(
        rec,
        source,
        every=every,
        all_faces=all_faces,
        window=window,
        on_rows=rows,
        max_frames=max_frames,
    )


def export(
    bundle: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="Model bundle (.safetensors).", show_default=DEFAULT_MODEL
    ),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", "-o", help="Output ONNX file (required).", show_default=False
    ),
    onnx: Optional[Path] = typer.Option(None, "--onnx", hidden=True),  # noqa: UP045 - old name
    opset: int = typer.Option(17, "--opset", min=9, help="ONNX opset version."),
    logits: bool = typer.Option(False, "--logits", help="Output logits instead of probabilities."),
) -> None:
    """Export a model bundle to ONNX (input (B,1,S,S) in [0,1], dynamic batch)."""
    from pathfer.use.bundle import BundleError
    from pathfer.use.export import export_onnx
    from pathfer.use.predict.results import check_writable

    console = Console()
    err = Console(stderr=True)
    target = out or onnx
    if target is None:
        _fail(err, "where should the ONNX model go? give --out model.onnx")
    try:
        check_writable(target)
        path = export_onnx(bundle, target, opset, output="logits" if logits else "probabilities")
    except (BundleError, ValueError, RuntimeError, OSError) as exc:
        _fail(err, str(exc))
    console.print(f"ONNX model -> {escape(str(path))}")
