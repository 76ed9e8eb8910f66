"""``pathfer predict`` and ``pathfer export``: use a trained model bundle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional  # noqa: UP035 - typer reads the annotations at runtime

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pathfer.cli.choices import one_of

if TYPE_CHECKING:
    from pathfer.use.predict.job import PredictOptions, PredictRun

DEFAULT_MODEL = "the built-in FER2013 mini-Xception"


def _fail(err: Console, message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def _summary_table(summary, labels: list[str], title: str, width: int | None = None) -> Table:  # noqa: ANN001
    """One row per input. The per-emotion means are columns where ``width`` (the terminal's)
    holds them whole; else only the top emotion shows (every value is in ``--summary``)."""
    table = _build_table(summary, labels, title)
    if width is not None and Console(width=10_000).measure(table).maximum > width:
        table = _build_table(summary, [], title)
        table.caption = "per-emotion means: --summary FILE"
    return table


def _build_table(summary, labels: list[str], title: str) -> Table:  # noqa: ANN001
    peak = "peak_emotion" in summary.columns
    table = Table(title=title)
    table.add_column("file", overflow="fold", min_width=12)
    table.add_column("frames", justify="right", no_wrap=True)
    table.add_column("face", justify="right", no_wrap=True)
    table.add_column("mean" if peak else "top emotion", no_wrap=True)
    if peak:
        table.add_column("peak (frame)", no_wrap=True)
    for label in labels:
        table.add_column(label, justify="right", no_wrap=True, min_width=4)
    for r in summary.to_dict("records"):
        has_face = isinstance(r["top_emotion"], str)
        probs = [f"{r[c]:.2f}" if has_face else "-" for c in labels]
        top = f"{r['top_emotion']} {r['top_prob']:.2f}" if has_face else "no face"
        cells = [escape(Path(r["file"]).name), str(r["frames"]), f"{r['face_share']:.0%}", top]
        if peak:
            cells.append(
                f"{r['peak_emotion']} {r['peak_prob']:.2f} ({r['peak_frame']})" if has_face else "-"
            )
        table.add_row(*cells, *probs)
    return table


def _print_table(console: Console, table: Table) -> None:
    """The table at its natural width when piped (rich would squeeze it to 80 columns)."""
    if not console.is_terminal:
        wide = console.measure(table, options=console.options.update_width(10_000)).maximum
        console = Console(width=max(console.width, wide))
    console.print(table)


# the options of ``predict``, declared here so that its signature stays one line each
Inputs = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer reads the annotations at runtime
    typer.Argument(
        metavar="INPUT...",
        help="Images, videos, folders (searched recursively) or glob patterns.",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--model", "-m", help="Model bundle (.safetensors).", show_default=DEFAULT_MODEL),
]
OutOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--out", "-o", help="Per-frame results: .csv, .json or .parquet.", show_default=False
    ),
]
SummaryOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--summary", help="One row per input: .csv, .json or .parquet.", show_default=False
    ),
]
TimelineOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--timeline",
        help="PNG of each emotion's probability over time (top emotion shaded).",
        show_default=False,
    ),
]
AnnotateOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--annotate",
        "-a",
        help="Video(s) with boxes and labels (H.264 .mp4): a file (one input) or a folder.",
        show_default=False,
    ),
]
CameraOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--camera",
        help="Predict live from a camera index (0, 1, ...) or a stream URL: a window where a "
        "display exists, else CSV rows on stdout as frames arrive. Stop with q or Ctrl-C.",
        show_default=False,
    ),
]
MaxFramesOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--max-frames", min=1, help="Stop --camera after N frames.", show_default="no limit"
    ),
]
EveryOpt = Annotated[int, typer.Option("--every", "-k", min=1, help="Analyse every K-th frame.")]
AllFacesOpt = Annotated[
    bool, typer.Option("--all-faces", help="One row per detected face (default: the largest only).")
]
DetectorOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--detector",
        metavar="DETECTOR",
        callback=one_of("DETECTOR"),
        help="Face detector (haar: OpenCV's Haar cascade, the fallback; none: each image is "
        "the face crop).",
        show_default="yunet where installed, else haar; none for a whole-image bundle",
    ),
]
TrackOpt = Annotated[
    bool,
    typer.Option(
        help="Search near the previous face first, a downscaled frame when lost (faster)."
    ),
]
DeviceOpt = Annotated[Literal["cpu", "cuda", "mps"], typer.Option(help="Where the model runs.")]
WorkersOpt = Annotated[
    int,
    typer.Option("--workers", "-j", min=1, help="Files read at once (processes), for many inputs."),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Face crops per model call.")]
ThreadsOpt = Annotated[
    int,
    typer.Option("--threads", min=0, help="Torch threads for the classifier (0: torch's default)."),
]
MaxPixelsOpt = Annotated[
    int,
    typer.Option(
        "--max-pixels",
        min=1,
        help="Refuse an image that decodes to more pixels than this (read from its header, "
        "before decoding).",
    ),
]
SequenceOpt = Annotated[
    bool,
    typer.Option(
        "--sequence",
        help="Each INPUT folder is one sequence of frames (images in name order): per-frame "
        "rows and one clip row with its mean and peak scores.",
    ),
]
TaskOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--task",
        "-t",
        help="A task of a multi-task model (pathfer learn); 'all': every task's, columns "
        "<task>:<label>.",
        show_default="the most recently learnt",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="No progress bar and no summary table; errors still shown."),
]


def predict(
    inputs: Inputs = None,
    model: ModelOpt = None,
    out: OutOpt = None,
    summary_file: SummaryOpt = None,
    timeline: TimelineOpt = None,
    annotate: AnnotateOpt = None,
    camera: CameraOpt = None,
    max_frames: MaxFramesOpt = None,
    every: EveryOpt = 1,
    all_faces: AllFacesOpt = False,
    detector: DetectorOpt = None,
    track: TrackOpt = True,
    device: DeviceOpt = "cpu",
    workers: WorkersOpt = 1,
    batch_size: BatchOpt = 64,
    threads: ThreadsOpt = 1,
    max_pixels: MaxPixelsOpt = 50_000_000,
    sequence: SequenceOpt = False,
    quiet: QuietOpt = False,
    task: TaskOpt = None,
) -> None:
    """Recognise facial emotions frame by frame in images, videos and camera streams."""
    from pathfer.use.predict.job import PredictOptions

    options = PredictOptions(
        inputs=tuple(inputs or ()),
        camera=camera,
        model=model,
        out=out,
        summary=summary_file,
        timeline=timeline,
        annotate=annotate,
        max_frames=max_frames,
        every=every,
        all_faces=all_faces,
        detector=detector,
        track=track,
        device=device,
        workers=workers,
        batch_size=batch_size,
        threads=threads,
        max_pixels=max_pixels,
        sequence=sequence,
        progress=not quiet,
        task=task,
    )
    _run_predict(options, quiet)


def _run_predict(options: PredictOptions, quiet: bool) -> None:
    from pathfer.data.video import VideoError
    from pathfer.use.bundle import BundleError
    from pathfer.use.predict.job import check_options, detector_line, load_recognizer, run_predict

    err = Console(stderr=True)
    try:
        check_options(options)
        rec = load_recognizer(options)
    except (BundleError, ValueError) as exc:
        _fail(err, str(exc))
    if not quiet:
        err.print(escape(detector_line(rec)), soft_wrap=True)

    def on_skip(item: str, reason: str) -> None:
        err.print(f"[yellow]warning:[/] {escape(item)}: {escape(reason)}; skipped", soft_wrap=True)

    try:
        run = run_predict(rec, options, on_skip)
    except (ValueError, OSError, VideoError) as exc:
        _fail(err, str(exc))
    if run.frames.empty and not run.interrupted:
        _fail(err, "no readable image or video among the inputs; nothing to predict")
    _report(run, options, quiet, err)


def _report(run: PredictRun, options: PredictOptions, quiet: bool, err: Console) -> None:
    """The summary table, the files written, what was skipped or interrupted."""
    from pathfer.use.predict.job import no_face_hint, write_outputs

    console = Console()
    df = run.frames
    if not quiet and not options.live and not df.empty:
        title = f"pathfer predict ({run.recognizer.meta.get('architecture', 'model')})"
        width = console.width if console.is_terminal else None
        _print_table(console, _summary_table(run.summary, run.labels, title, width))
    try:
        written = write_outputs(run, options)
    except (OSError, ValueError, ImportError) as exc:
        _fail(err, f"cannot write the results ({exc})")
    info = err if options.live else console  # stdout holds the rows when streaming
    if not quiet:
        for line in written:
            info.print(escape(line), soft_wrap=True)
        if options.out is None and not options.live:
            info.print(f"{len(df)} per-frame rows (not saved; use --out results.csv)")
        for p in df.attrs.get("annotated", []):
            info.print(f"annotated -> {escape(p)}", soft_wrap=True)
    for note in df.attrs.get("notes", []):
        err.print(f"[yellow]warning:[/] {escape(note)}; the frames read are kept", soft_wrap=True)
    hint = no_face_hint(run.recognizer, df)
    if hint:
        err.print(f"[yellow]hint:[/] {escape(hint)}", soft_wrap=True)
    skipped = df.attrs.get("skipped", [])
    if skipped:
        err.print(f"[yellow]{len(skipped)} input(s) skipped[/]")
    if run.interrupted:
        saved = " (partial results saved above)" if written else ""
        err.print(f"[yellow]interrupted[/] after {len(df)} rows{saved}")
        raise typer.Exit(130)


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
    task: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--task",
        "-t",
        help="The task of a multi-task model file to export.",
        show_default="the most recently learnt",
    ),
) -> None:
    """Export a model bundle, or one task of a multi-task model, to ONNX (input (B,1,S,S)
    in [0,1], dynamic batch)."""
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
        source = _task_bundle(bundle, task)
        path = export_onnx(source, target, opset, output="logits" if logits else "probabilities")
    except (BundleError, ValueError, RuntimeError, OSError) as exc:
        _fail(err, str(exc))
    console.print(f"ONNX model -> {escape(str(path))}")


def _task_bundle(bundle: Path | None, task: str | None):  # noqa: ANN202 - a Bundle or the path
    """A multi-task model file's task as a bundle; a bundle's path as it is."""
    from pathfer.use.model_file import BUILTIN, is_model_file, load_model

    if task is None and not is_model_file(bundle):
        return bundle
    if bundle is not None and not is_model_file(bundle):
        raise ValueError(f"{bundle}: --task needs a multi-task model file; a bundle has one task")
    return load_model(bundle or BUILTIN).as_bundle(task)
