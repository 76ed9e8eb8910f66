"""``pathfer prepare``: a corpus folder (or YAML spec) -> cached face dataset."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal, Optional  # noqa: UP035 - typer reads the annotations at runtime

import typer
from rich.console import Console
from rich.markup import escape

from pathfer.cli.choices import one_of

MAX_LISTED = 20


def prepare(
    target: str = typer.Argument(
        ..., help="Corpus name (savee, enterface, ravdess) or a .yaml corpus spec."
    ),
    path: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="Corpus folder (for a spec: overrides its root)."
    ),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None,
        "--out",
        "-o",
        help="Cache root.",
        show_default="$PATHFER_CACHE, else ./pathfer_cache",
    ),
    frames: int = typer.Option(16, "--frames", "-n", help="Frames per clip (uniform sampling)."),
    sampling: Literal["uniform", "every", "all"] = typer.Option("uniform", help="Frame sampling."),
    every: int = typer.Option(5, "--every", "-k", help="Frame step for --sampling every."),
    size: int = typer.Option(48, help="Side of the square grey face crop, in pixels."),
    margin: float = typer.Option(
        0.1, help="Margin around the face box (fraction; docs/tuning.md chose 0.1)."
    ),
    equalize: bool = typer.Option(
        False, help="Histogram-equalise each crop (cost ~3 points on real photos)."
    ),
    detector: Optional[str] = typer.Option(  # noqa: UP045
        None,
        metavar="DETECTOR",
        callback=one_of("DETECTOR"),
        help="Face detector: yunet (the default where the yuface package is installed), "
        "haar (the default elsewhere), or none for images that are already face crops.",
    ),
    align: bool = typer.Option(
        False, help="Rotate each crop so the eyes are level (needs a detector with landmarks)."
    ),
    track: bool = typer.Option(True, help="Search near the previous face first (faster)."),
    labels: Optional[str] = typer.Option(  # noqa: UP045
        None, help="Keep only these emotions, comma-separated (e.g. anger,happiness)."
    ),
    workers: Optional[int] = typer.Option(  # noqa: UP045
        None, "--workers", "-j", help="Worker processes.", show_default="all cores"
    ),
    executor: Literal["local", "inline", "ray"] = typer.Option("local", help="Where jobs run."),
    address: Optional[str] = typer.Option(  # noqa: UP045
        None, "--address", help="Ray cluster address for --executor ray (or set RAY_ADDRESS)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Turn a corpus into a cached face dataset (reused when the settings match)."""
    from pathfer.data.corpora import CorpusError, scan_target
    from pathfer.data.datasets import (
        PrepareError,
        corpus_crop,
        default_cache_root,
        prepare_corpus,
    )
    from pathfer.data.faces import CropSettings, DetectorFallbackWarning
    from pathfer.data.video import FrameSampling

    console = Console()
    err = Console(stderr=True)

    def fail(message: str) -> None:
        err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        raise typer.Exit(2)

    try:
        fs = FrameSampling(mode=sampling, n=frames, k=every)
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", DetectorFallbackWarning)
            crop = CropSettings(
                size=size, margin=margin, equalize=equalize, detector=detector, align=align
            )
        for note in notes:
            err.print(f"[yellow]note:[/] {escape(str(note.message))}", soft_wrap=True)
        if executor not in {"local", "inline", "ray"}:
            raise ValueError(f"unknown executor {executor!r}; use local, inline or ray")
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, not {workers}")
        scan = scan_target(target, path)
        if labels:
            scan = scan.restrict([x for x in labels.split(",") if x.strip()])
        if executor == "ray":
            from pathfer.runtime import get_executor

            try:
                ex = get_executor("ray", workers=workers, address=address)
            except ImportError as exc:
                raise ValueError(f"the ray executor is not available ({exc})") from None
        else:
            ex = executor
        cache_root = out if out is not None else default_cache_root()
        console.print(escape(scan.summary()), soft_wrap=True)
        if scan.detector is not None and scan.detector != crop.detector:
            if detector is not None:
                err.print(
                    f"[yellow]note:[/] the corpus spec says detector {escape(scan.detector)}; "
                    f"it is used instead of --detector {escape(detector)}",
                    soft_wrap=True,
                )
            crop = corpus_crop(scan, crop)
        console.print(
            f"faces: detector {crop.detector}"
            + (", tracked in videos" if track and crop.detector != "none" else "")
            + (", aligned" if crop.align else ""),
            soft_wrap=True,
        )
        report = prepare_corpus(
            scan,
            cache_root,
            fs,
            crop,
            executor=ex,
            workers=workers,
            progress=not quiet,
            track=track,
        )
    except (CorpusError, PrepareError, ValueError, OSError) as exc:
        fail(str(exc))
        return
    except KeyboardInterrupt:
        err.print("[yellow]interrupted;[/] run the same command again to resume where it stopped")
        raise typer.Exit(130) from None

    if report.reused:
        console.print("reused the prepared dataset (same corpus files and settings)")
    elif report.n_resumed:
        console.print(f"resumed an interrupted run ({report.n_resumed} clips were already done)")
    console.print(
        f"clips read: {report.n_clips + report.n_skipped}  prepared: {report.n_clips}  "
        f"skipped: {report.n_skipped}  ignored files: {len(report.ignored)}"
    )
    console.print(
        f"frames: {report.n_frames}  face found in {report.face_rate:.1%} of frames "
        f"(the rest reuse a neighbouring frame's box)"
    )
    if report.skipped:
        console.print(f"[yellow]skipped ({report.n_skipped}):[/]")
        for p in report.skipped[:MAX_LISTED]:
            console.print(f"  - {escape(p.message())}", soft_wrap=True)
        if report.n_skipped > MAX_LISTED:
            console.print(f"  ... and {report.n_skipped - MAX_LISTED} more")
    if report.warnings:
        console.print(f"[yellow]kept with a warning ({len(report.warnings)}):[/]")
        for p in report.warnings[:MAX_LISTED]:
            console.print(f"  - {escape(p.message())}", soft_wrap=True)
        if len(report.warnings) > MAX_LISTED:
            console.print(f"  ... and {len(report.warnings) - MAX_LISTED} more")
    if report.ignored:
        reasons = sorted({p.reason.split(" (")[0] for p in report.ignored})
        console.print(
            f"ignored {len(report.ignored)} files on purpose ({escape('; '.join(reasons[:3]))})",
            soft_wrap=True,
        )
    if report.skipped or report.ignored or report.warnings:
        console.print(f"all problems: {escape(str(report.path / 'problems.json'))}", soft_wrap=True)
    console.print(f"[green]dataset:[/] {escape(str(report.path))}", soft_wrap=True)
