"""What one generated subject and one generated clip are (plain data; drawn in :mod:`.styles`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SubjectParams:
    """Per-subject appearance and expression idiosyncrasies."""

    face_w: float  # face half-width / face half-height
    eye_dx: float  # eye centre offset from the midline, in face half-widths
    eye_y: float  # eye height, in face half-heights (negative = above centre)
    eye_size: float
    brow_gap: float  # brow height above the eyes
    brow_thick: float
    nose_len: float
    mouth_y: float
    mouth_w: float
    lip_thick: float
    skin: tuple[float, float, float]  # BGR
    hair: tuple[float, float, float]
    hair_style: str  # "short" | "long" | "bald"
    shirt: tuple[float, float, float]
    background: tuple[float, float, float]
    background2: tuple[float, float, float]  # second colour (gradient / furniture)
    bg_layout: int
    center: tuple[float, float]  # head-centre offset (fraction of frame height)
    face_height: float  # fraction of frame height
    light_side: float
    expressiveness: float
    quirks: dict[str, tuple[float, ...]] = field(default_factory=dict)  # emotion -> delta


@dataclass(frozen=True)
class ClipParams:
    """Per-clip timing, motion and speech parameters (everything that varies over ``t``)."""

    onset: float = 0.2  # clip time where the expression starts
    apex: float = 0.55  # clip time where it reaches full intensity
    release: float = 0.0  # how much it relaxes again by the end (0..1)
    jitter: tuple[float, ...] = ()  # clip-specific offset of the action vector
    motion: tuple[float, ...] = ()  # phases/frequencies of head motion
    speech: tuple[float, float] = (0.0, 0.0)  # syllable rate (cycles/clip), phase
    speech_amp: float = 0.0
    blinks: tuple[float, ...] = ()  # blink centres (clip time)
    noise: float = 2.0
    blur: float = 0.5
    gain: float = 1.0
