"""Stage 7a, split: train/dev/test by document, so no recording (and no speaker of it) is in two splits.

A document's split is drawn from a hash of (seed, source item): every document of one Internet
Archive item lands in the same split, and the assignment of one document never depends on which others
are in the build (adding items later moves nothing).
"""

from __future__ import annotations

import hashlib

__all__ = ["split_of", "SPLITS"]

SPLITS = ("train", "dev", "test")


def split_of(item: str, seed: int, shares: tuple[float, float, float]) -> str:
    digest = hashlib.sha256(f"{seed}\x00{item}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2 ** 64
    if u < shares[0]:
        return "train"
    if u < shares[0] + shares[1]:
        return "dev"
    return "test"
