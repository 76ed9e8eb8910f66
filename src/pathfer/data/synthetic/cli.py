"""``python -m pathfer.data.synthetic OUT_DIR``: write both demo corpora."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pathfer.data.synthetic.layouts import make_enterface, make_savee


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pathfer.data.synthetic",
        description="Write synthetic SAVEE- and eNTERFACE-style emotion corpora.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to create 'savee' and 'enterface' in")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--speakers", nargs="+", default=["DC", "JE", "JK", "KL"])
    parser.add_argument("--clips-per-emotion", type=int, default=3)
    parser.add_argument("--neutral-clips", type=int, default=None)
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--irregular", action="store_true", help="add eNTERFACE irregularities")
    args = parser.parse_args(argv)
    savee = make_savee(
        args.out_dir / "savee",
        speakers=args.speakers,
        clips_per_emotion=args.clips_per_emotion,
        neutral_clips=args.neutral_clips,
        frames=args.frames,
        seed=args.seed,
    )
    ent = make_enterface(
        args.out_dir / "enterface",
        subjects=args.subjects,
        sentences=args.sentences,
        frames=args.frames,
        seed=args.seed,
        irregular=args.irregular,
    )
    print(f"SAVEE-style corpus: {savee}")
    print(f"eNTERFACE-style corpus: {ent}")
    return 0
