"""Forced alignment trained on the corpus itself (no outside model), MFA-compatible input and output.

Method (details in the module docstrings):
- units: graphemes of the corpus's derived alphabet (or phones of an MFA dictionary), each a 3-state
  left-to-right HMM; a 3-state silence, optional between words, free at the edges (`hmm`);
- features: 40 log-mel bands, 25 ms windows, 10 ms hop, per-utterance mean/variance normalization
  (`features`);
- training from a flat start by hard EM (`train`): energy-based uniform segmentation, Viterbi rounds
  with diagonal GMMs on MFCC+deltas (1 -> 8 components), then hybrid rounds where an MLP on spliced
  log-mel frames learns the current alignment and its scaled likelihoods (posterior / prior) realign;
- alignment (`aligner`): batched numba Viterbi; boundaries refined below the frame (`boundaries`:
  crossover of the two states' scores, and word edges at pauses moved to the signal's rise/fall so that
  a stop's closure after a pause stays out of the word, as annotation conventions have it); per-word
  confidence, and a mismatch score (forced path vs a free grapheme loop, per speech frame) with a
  threshold calibrated on held-out training utterances against shuffled transcripts;
- long audio (`long_audio`): windowed anchored alignment with skippable words and a garbage path;
- I/O: `corpus.formats.textgrid`, `corpus.formats.ctm`, the JSONL alignment manifest, and an
  `mfa align` backend (`mfa`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from corpus.align.types import AlignError, AlignerConfig, AlignItem, AlignResult

__all__ = ["AlignItem", "AlignResult", "AlignerConfig", "AlignError", "train_aligner", "align_items", "align_item",
           "iter_aligned"]

_BATCH = 32


def train_aligner(items: Sequence[AlignItem], *, language: str, out_dir: str | Path,
                  config: AlignerConfig | None = None, jobs: int | None = None, progress: bool = True) -> Path:
    """Train a model on `items` (their transcripts are the only supervision); returns the model folder."""
    from corpus.align.train import train_aligner as _train

    return _train(items, language=language, out_dir=out_dir, config=config, jobs=jobs, progress=progress)


def _align_chunk(job: tuple) -> list[AlignResult]:
    """(model_dir, items[, filler]) -> results."""
    from corpus.align.aligner import align_batch
    from corpus.align.model import load_model

    model_dir, items = job[:2]
    filler = bool(job[2]) if len(job) > 2 else False
    try:
        model = load_model(model_dir)
    except Exception as error:  # an unusable model is every item's error, not a crash of the executor
        return [AlignResult(id=item.id, alignment=None, error=f"model: {error}") for item in items]
    try:
        return align_batch(model, items, filler=filler)
    except Exception as error:  # last resort: never let one batch kill a whole run
        if len(items) == 1:
            return [AlignResult(id=items[0].id, alignment=None, error=f"{type(error).__name__}: {error}")]
        return [r for item in items for r in _align_chunk((model_dir, (item,), filler))]


def align_item(item: AlignItem, model_dir: str | os.PathLike[str], *, filler: bool = False) -> AlignResult:
    """Align one item (what a Spark executor calls); the model is loaded once per process and cached.
    `filler`: pauses may hold untranscribed speech (hesitations; `aligner.decode_prepared`)."""
    return _align_chunk((str(model_dir), (item,), filler))[0]


def _worker_init() -> None:
    """Pool workers: one BLAS thread each, since the pool already uses every core."""
    import numpy  # noqa: F401  (BLAS must be loaded for its thread pool to be limited)

    from corpus.engines import quiet_worker

    quiet_worker()


def iter_aligned(items: Sequence[AlignItem], model_dir: str | os.PathLike[str], *, jobs: int | None = None,
                 progress: bool = True, desc: str = "align", filler: bool = False) -> Iterator[list[AlignResult]]:
    """Results of `items` batch by batch, in input order (what `align_items` and the CLI consume).

    Batches run on this process's shared local engine (`corpus.engines`): its workers live as long as
    this process, so repeated calls (a builder aligning chunk after chunk) load the model once."""
    from tqdm import tqdm

    from corpus.engines import shared_local_engine

    items = list(items)
    chunks = [(str(model_dir), tuple(items[i:i + _BATCH]), filler) for i in range(0, len(items), _BATCH)]
    bar = tqdm(total=len(items), desc=desc, unit="utt", disable=not progress or not items, leave=False,
               dynamic_ncols=True)
    try:
        engine = shared_local_engine(None if jobs is None else max(1, jobs), initializer=_worker_init)
        for results in engine.map(_align_chunk, chunks, progress=False, chunksize=1):
            bar.update(len(results))
            yield results
    finally:
        bar.close()


def align_items(items: Sequence[AlignItem], model_dir: str | os.PathLike[str], *, jobs: int | None = None,
                progress: bool = True, filler: bool = False) -> list[AlignResult]:
    """Align many items in batches on a process pool; results in input order, errors as `AlignResult.error`.
    `filler`: pauses may hold untranscribed speech (hesitations, words missing from the transcript)."""
    from corpus.align.model import load_model

    load_model(model_dir)  # a missing or broken model is the caller's error: raise it once, here
    return [r for chunk in iter_aligned(items, model_dir, jobs=jobs, progress=progress, filler=filler) for r in chunk]
