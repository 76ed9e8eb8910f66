"""``pathfer prepare``: a corpus folder (or YAML spec) -> cached face dataset."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Optional  # noqa: UP035 - typer reads the annotations at runtime

import typer
from rich.console import Console
from rich.markup import escape

from pathfer.cli.choices import one_of

if TYPE_CHECKING:
    from pathfer.data.datasets import PrepareReport
    from pathfer.data.datasets.pipeline import PreparePlan
    from pathfer.data.faces import CropSettings

MAX_LISTED = 20

# the options of ``prepare``, declared here so that its signature stays one line each
Target = Annotated[
    str,
    typer.Argument(help="Corpus name (savee, enterface, ravdess) or a .yaml corpus spec."),
]
Folder = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotations at runtime
    typer.Argument(help="Corpus folder (for a spec: overrides its root)."),
]
OutOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--out", "-o", help="Cache root.", show_default="$PATHFER_CACHE, else ./pathfer_cache"
    ),
]
FramesOpt = Annotated[
    int, typer.Option("--frames", "-n", help="Frames per clip (uniform sampling).")
]
SamplingOpt = Annotated[Literal["uniform", "every", "all"], typer.Option(help="Frame sampling.")]
EveryOpt = Annotated[int, typer.Option("--every", "-k", help="Frame step for --sampling every.")]
SizeOpt = Annotated[int, typer.Option(help="Side of the square grey face crop, in pixels.")]
MarginOpt = Annotated[
    float, typer.Option(help="Margin around the face box (fraction; docs/tuning.md chose 0.1).")
]
EqualizeOpt = Annotated[
    bool, typer.Option(help="Histogram-equalise each crop (cost ~3 points on real photos).")
]
DetectorOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        metavar="DETECTOR",
        callback=one_of("DETECTOR"),
        help="Face detector: yunet (the default where the yuface package is installed), "
        "haar (the default elsewhere), or none for images that are already face crops.",
    ),
]
AlignOpt = Annotated[
    bool,
    typer.Option(help="Rotate each crop so the eyes are level (needs a detector with landmarks)."),
]
TrackOpt = Annotated[bool, typer.Option(help="Search near the previous face first (faster).")]
LabelsOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="Keep only these emotions, comma-separated (e.g. anger,happiness)."),
]
WorkersOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--workers", "-j", help="Worker processes.", show_default="all cores"),
]
ExecutorOpt = Annotated[Literal["local", "inline", "ray"], typer.Option(help="Where jobs run.")]
AddressOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--address", help="Ray cluster address for --executor ray (or set RAY_ADDRESS)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def prepare(
    target: Target,
    path: Folder = None,
    out: OutOpt = None,
    frames: FramesOpt = 16,
    sampling: SamplingOpt = "uniform",
    every: EveryOpt = 5,
    size: SizeOpt = 48,
    margin: MarginOpt = 0.1,
    equalize: EqualizeOpt = False,
    detector: DetectorOpt = None,
    align: AlignOpt = False,
    track: TrackOpt = True,
    labels: LabelsOpt = None,
    workers: WorkersOpt = None,
    executor: ExecutorOpt = "local",
    address: AddressOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Turn a corpus into a cached face dataset (reused when the settings match)."""
    from pathfer.data.corpora import CorpusError
    from pathfer.data.datasets import PrepareError, prepare_corpus
    from pathfer.data.datasets.pipeline import plan_preparation
    from pathfer.data.video import FrameSampling

    console = Console()
    err = Console(stderr=True)
    try:
        fs = FrameSampling(mode=sampling, n=frames, k=every)
        crop = _crop_settings(err, size, margin, equalize, detector, align)
        plan = plan_preparation(
            target,
            path,
            crop=crop,
            labels=[x for x in labels.split(",") if x.strip()] if labels else (),
            executor=executor,
            workers=workers,
            address=address,
            cache_root=out,
        )
        _announce(console, err, plan, detector, track)
        report = prepare_corpus(
            plan.scan,
            plan.cache_root,
            fs,
            plan.crop,
            executor=plan.executor,
            workers=plan.workers,
            progress=not quiet,
            track=track,
        )
    except (CorpusError, PrepareError, ValueError, OSError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted;[/] run the same command again to resume where it stopped")
        raise typer.Exit(130) from None
    _print_report(console, report)


def _crop_settings(
    err: Console, size: int, margin: float, equalize: bool, detector: str | None, align: bool
) -> CropSettings:
    """The crop options as :class:`CropSettings`; a fallback of the default detector is a
    note on stderr."""
    from pathfer.data.faces import CropSettings, DetectorFallbackWarning

    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", DetectorFallbackWarning)
        crop = CropSettings(
            size=size, margin=margin, equalize=equalize, detector=detector, align=align
        )
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(str(note.message))}", soft_wrap=True)
    return crop


def _announce(
    console: Console, err: Console, plan: PreparePlan, detector: str | None, track: bool
) -> None:
    """What is about to be prepared: the corpus, and how faces are found."""
    console.print(escape(plan.scan.summary()), soft_wrap=True)
    if plan.corpus_detector and detector is not None:
        err.print(
            f"[yellow]note:[/] the corpus spec says detector {escape(plan.scan.detector)}; "
            f"it is used instead of --detector {escape(detector)}",
            soft_wrap=True,
        )
    crop = plan.crop
    console.print(
        f"faces: detector {crop.detector}"
        + (", tracked in videos" if track and crop.detector != "none" else "")
        + (", aligned" if crop.align else ""),
        soft_wrap=True,
    )


def _print_report(console: Console, report: PrepareReport) -> None:
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
    _print_problems(console, "[yellow]skipped", report.skipped)
    _print_problems(console, "[yellow]kept with a warning", report.warnings)
    if report.ignored:
        reasons = sorted({p.reason.split(" (")[0] for p in report.ignored})
        console.print(
            f"ignored {len(report.ignored)} files on purpose ({escape('; '.join(reasons[:3]))})",
            soft_wrap=True,
        )
    if report.skipped or report.ignored or report.warnings:
        console.print(f"all problems: {escape(str(report.path / 'problems.json'))}", soft_wrap=True)
    console.print(f"[green]dataset:[/] {escape(str(report.path))}", soft_wrap=True)


def _print_problems(console: Console, title: str, problems: list) -> None:
    """A titled list of the first :data:`MAX_LISTED` problems, if any."""
    if not problems:
        return
    console.print(f"{title} ({len(problems)}):[/]")
    for p in problems[:MAX_LISTED]:
        console.print(f"  - {escape(p.message())}", soft_wrap=True)
    if len(problems) > MAX_LISTED:
        console.print(f"  ... and {len(problems) - MAX_LISTED} more")
