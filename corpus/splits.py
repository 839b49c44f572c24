"""Speaker-disjoint, deterministic, growth-stable split assignment.

A speaker's split is a pure function of (seed, speaker id): a SHA-256 of both mapped to [0, 1) and
cut at the cumulative shares. Adding speakers never moves existing ones, and every clip of a speaker
lands in the same split, so no voice is heard in both training and test.

Gender balance: because a speaker's split depends on nothing but its own id and the seed, every split
receives, in expectation, the corpus's gender mix (for every keyword too). Counts are not evened out
actively: that would make a speaker's split depend on the other speakers, so a later release with more
speakers would move existing ones (and leak test voices into a retrained model's training data). The
MSWC builder measures the balance instead (report.json, `split.gender_balance`).
"""

from __future__ import annotations

import hashlib

__all__ = ["speaker_point", "speaker_split", "SPLIT_NAMES"]

SPLIT_NAMES = ("TRAIN", "DEV", "TEST")


def speaker_point(speaker: str, seed: int) -> float:
    digest = hashlib.sha256(f"split:{seed}:{speaker}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def speaker_split(speaker: str, *, seed: int = 0, shares: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    if abs(sum(shares) - 1.0) > 1e-9 or min(shares) < 0:
        raise ValueError(f"split shares must be >= 0 and sum to 1, got {shares}")
    point = speaker_point(speaker, seed)
    if point < shares[0]:
        return SPLIT_NAMES[0]
    return SPLIT_NAMES[1] if point < shares[0] + shares[1] else SPLIT_NAMES[2]
