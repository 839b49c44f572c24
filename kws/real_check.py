"""The real-speech check of `python -m kws train` (kws.train): how the run's embedding does on REAL voices.

The demo trains on synthetic speech only; its own figures say how it does on voices of the same
synthesizer. This check takes real recordings, kept apart from everything trained before:
- `../shared/real_speech` (or any folder with its layout: `MANIFEST.tsv` + `keywords/<word>/*.wav`, Speech
  Commands clips): the keywords `kws.real_speech.REAL_KEYWORDS`, K shots from some speakers, tested on
  every clip of the other speakers, their other words as the unknown class (`kws.real_speech.real_keyword_tree`);
- an MSWC-layout language folder of real recordings (`<lang>_splits.csv`, TRAIN/DEV/TEST by speaker): its
  three most frequent words, shots from TRAIN, tests on DEV+TEST.
A K-shot model on the run's embedding (frozen, only the head trains: seconds, not minutes), K real shots
only (no synthetic renditions), the unknown class mostly (3/4 of its examples) from the shot speakers' other
real words, the rest from the embedding's other languages; figures: per keyword F1 and accuracy on the
held-out clips. The summary prints them apart from the synthetic figures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpus.formats.mswc import MswcRelease
from kws.data import DataError, NoiseBank, open_tree

__all__ = ["RealSource", "resolve_real_source", "real_check"]


@dataclass(frozen=True)
class RealSource:
    kind: str  # "speech-commands" (a MANIFEST.tsv folder) | "mswc" (an MSWC-layout language folder)
    path: Path


def resolve_real_source(option: str | None, start: Path | None = None) -> RealSource | None:
    """`--real-check`: "auto" (../shared/real_speech when present), "none", or a folder of either kind."""
    from kws.real_speech import real_speech_root

    if option is None or option == "none":
        return None
    if option == "auto":
        root = real_speech_root(start)
        return RealSource("speech-commands", root) if root is not None else None
    path = Path(option)
    if (path / "MANIFEST.tsv").exists() and (path / "keywords").is_dir():
        return RealSource("speech-commands", path)
    if any(path.glob("*_splits.csv")):
        return RealSource("mswc", path)
    raise DataError(f"--real-check {option}: neither a real_speech folder (MANIFEST.tsv + keywords/) nor an "
                    f"MSWC-layout language folder (<lang>_splits.csv)")


def _target(source: RealSource, work: Path, shots: int, seed: int) -> tuple[MswcRelease, tuple[str, ...], tuple[str, ...]]:
    """(tree, keywords, evaluation sets)."""
    from kws.real_speech import REAL_KEYWORDS, real_keyword_tree

    if source.kind == "speech-commands":
        return real_keyword_tree(source.path, work, REAL_KEYWORDS, shots=shots, seed=seed), REAL_KEYWORDS, ("TEST",)
    tree = open_tree(source.path)
    counts: dict[str, int] = {}
    for clip in tree.by_set("TRAIN"):
        if clip.valid:
            counts[clip.word] = counts.get(clip.word, 0) + 1
    keywords = tuple(w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= shots)[:3]
    if not keywords:
        raise DataError(f"{source.path}: no word has {shots} TRAIN clips for a real-speech check")
    return tree, keywords, ("DEV", "TEST")


def real_check(encoder, source: RealSource, unknown_trees: list[MswcRelease], noise: NoiseBank, *, work: Path,
               shots: int, seed: int, cache_dir=None, jobs: int | None = None) -> dict:
    """Figures of a frozen-embedding K-shot model on the real recordings of `source` (module docstring)."""
    from kws.fewshot import REAL_UNKNOWN_SHARE, FewShotConfig, evaluate_model, evaluation_set, train_fewshot

    started = time.perf_counter()
    tree, keywords, sets = _target(source, work, shots, seed)
    config = FewShotConfig(keywords=keywords, shots=shots, seed=seed, fine_tune_layers=0,
                           target_unknown_share=REAL_UNKNOWN_SHARE)
    trained = train_fewshot(encoder, tree, config, unknown_trees=[t for t in unknown_trees if t.language != tree.language],
                            noise=noise, cache_dir=cache_dir, jobs=jobs, verbose=False)
    x, y, _ = evaluation_set(tree, keywords, noise, cache_dir=cache_dir, jobs=jobs, sets=sets, seed=seed)
    metrics = evaluate_model(trained.model, x, y, trained.labels)
    per_keyword = {k: round(metrics["per_class"][k]["f1"], 4) for k in keywords}
    return {"source": f"{source.kind}: {source.path}", "data": "REAL recordings (shots and tests)",
            "keywords": list(keywords), "shots": shots, "method": "frozen embedding + softmax head, real shots only",
            "test_clips": int(np.sum(y >= 2)), "test_sets": list(sets),
            "f1_per_keyword": per_keyword, "mean_f1": round(float(np.mean(list(per_keyword.values()))), 4),
            "accuracy": round(float(metrics["accuracy"]), 4), "seconds": round(time.perf_counter() - started, 1)}
