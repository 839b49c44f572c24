"""EM adaptation of a trained aligner (the synthetic head start) to a corpus of real voices.

1. The head start aligns the corpus with its own transcripts (Viterbi, optional pauses between words):
   the first alignment, instead of a flat start's uniform segmentation.
2. Rounds of hard EM: the head start's MLP, warm-started, is trained a few epochs at a small learning rate
   on the corpus frames and their current classes, then the corpus is realigned with its scores. Class
   priors and state durations come from the corpus where it has seen a class often enough, and from the
   head start elsewhere, so a small corpus (30-50 utterances) cannot wipe out what it never shows.
3. The unit inventory is the head start's (its espeak phonemes, or graphemes), the corpus's words added to
   its dictionary as read in the corpus's sentences: a corpus word with a character the head start never
   saw (graphemes) is refused by name (the caller reports it) rather than given a made-up model.
4. Optionally (`AlignerConfig.adapt_synthetic_voices`) the corpus's own transcripts are also read by that
   many synthetic voices (espeak-ng, noise and reverb) and join the adaptation data: the head start then
   hears the corpus's words, not only the demo vocabulary it was built on, while the real frames (repeated
   to weigh as much as the synthetic ones) teach it the real voices.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np

from corpus.align.lexicon import Lexicon
from corpus.align.model import AcousticModel
from corpus.align.types import AlignerConfig, AlignItem

__all__ = ["adapt_model", "synthetic_readings", "MIN_CLASS_FRAMES"]

MIN_CLASS_FRAMES = 50  # frames a class needs in the corpus before its prior and duration are the corpus's own


def _head_durations(model: AcousticModel) -> np.ndarray:
    """Mean frames per visit implied by the head start's loop probabilities."""
    stay = np.exp(model.topology.loop_lp.astype(np.float64))
    return 1.0 / np.maximum(1.0 - stay, 1e-6)


class _Reading:
    """Picklable job: one transcript read by one synthetic voice, degraded; -> normalized log-mel or None."""

    def __init__(self, model: AcousticModel, language: str, seed: int) -> None:
        self.model, self.language, self.seed = model, language, seed

    def __call__(self, job: tuple[int, tuple[str, ...], object]) -> np.ndarray | None:
        from corpus.augment import DegradeConfig, augment
        from corpus.synth import SynthError, synthesize

        index, words, speaker = job
        rng = np.random.default_rng([self.seed, index])
        try:
            speech = synthesize(" ".join(words), language=self.language, speaker=speaker).samples
        except SynthError:
            return None
        pad = [np.zeros(int(rng.uniform(0.15, 0.6) * 16000), np.float32) for _ in range(2)]
        config = DegradeConfig(noise_kind=("white", "pink")[int(rng.integers(2))], snr_db=float(rng.uniform(10, 30)),
                               rt60_s=float(rng.uniform(0.2, 0.5)) if rng.random() < 0.3 else 0.0,
                               gain_db=float(rng.uniform(-6, 3)))
        samples = augment(np.concatenate([pad[0], speech, pad[1]]), config, rng)
        return self.model.features(samples)


def synthetic_readings(model: AcousticModel, items: list[AlignItem], *, voices: int, seed: int, language: str,
                       max_readings: int, jobs: int | None) -> list[tuple[np.ndarray, int]]:
    """(features, item index) of `voices` synthetic readings of each item's transcript (at most
    `max_readings` in all, items drawn evenly); readings that fail to synthesize are left out."""
    from corpus.engines import map_ordered
    from corpus.synth import SpeakerBank

    if voices <= 0 or not items:
        return []
    bank = SpeakerBank(voices, seed=seed + 0x51)
    per_item = max(1, min(voices, max_readings // len(items)))
    step = max(1, len(items) * per_item // max_readings)
    jobs_list = [(k, items[i].words, bank[(i + v) % voices], i) for k, (i, v) in
                 enumerate((i, v) for i in range(0, len(items), step) for v in range(per_item))]
    feats = map_ordered(_Reading(model, language, seed), [j[:3] for j in jobs_list], jobs=jobs,
                        desc="align train: synthetic readings", unit="utt", chunksize=4, progress=False)
    return [(f, j[3]) for f, j in zip(feats, jobs_list) if f is not None]


def adapt_model(head: AcousticModel, mel: np.ndarray, offsets: np.ndarray, units: list[list[tuple[int, ...]]], *,
                config: AlignerConfig, language: str, rng: np.random.Generator,
                on_round: Callable[[dict], None] | None = None, real_count: int | None = None,
                lexicon: Lexicon | None = None) -> tuple[AcousticModel, np.ndarray]:
    """(adapted model, final class per frame) for the corpus given as normalized log-mel frames `mel`
    ([N, 40], utterances at `offsets`) and each utterance's word units (in the head start's inventory).
    The first `real_count` utterances are real (all by default); the rest synthetic readings, which the
    real ones are repeated to outweigh. `lexicon` (same units as the head start's, e.g. with the corpus's
    words added) goes into the adapted model; the head start's by default."""
    from corpus.align.train import _Corpus, _durations, _mlp_scores, _realign, _Splicer

    if head.mlp is None or head.log_prior is None:
        raise ValueError("the head start has no MLP to adapt (trained with mlp_rounds=0)")
    corpus = _Corpus(items=[], units=units, mel=mel, offsets=offsets)
    topo = head.topology
    C = topo.n_classes
    scores, _ = head.scores(mel, offsets=offsets)
    labels, best = _realign(corpus, scores, topo)
    mlp = copy.deepcopy(head.mlp)
    head_prior = np.exp(head.log_prior.astype(np.float64))
    head_durations = _head_durations(head)
    splicer = _Splicer(mel, offsets, head.config.splice)
    log_prior = head.log_prior

    def corpus_stats(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(labels, minlength=C).astype(np.float64)
        weight = np.minimum(counts / MIN_CLASS_FRAMES, 1.0)  # trust the corpus in proportion to its evidence
        prior = weight * counts / counts.sum() + (1 - weight) * head_prior
        durations = _durations(labels, offsets, C)
        durations = weight * durations + (1 - weight) * head_durations
        return np.log(prior / prior.sum()).astype(np.float32), durations

    n_real = len(units) if real_count is None else real_count
    real_frames = int(offsets[n_real])
    synthetic_frames = len(mel) - real_frames
    repeat = max(1, int(round(synthetic_frames / max(real_frames, 1))))
    subset = np.concatenate([np.tile(np.arange(real_frames), repeat), np.arange(real_frames, len(mel))])
    for round_ in range(config.adapt_rounds):
        log_prior, durations = corpus_stats(labels)
        topo = topo.with_durations(durations)
        loss = mlp.train(lambda idx: splicer(subset[idx]), labels[subset], epochs=config.adapt_epochs, rng=rng,
                         lr=config.adapt_lr)
        scores = _mlp_scores(mlp, splicer, len(labels), log_prior)
        new_labels, best = _realign(corpus, scores, topo)
        changed = float(np.mean(new_labels != labels))
        labels = new_labels
        if on_round is not None:
            on_round({"stage": f"adapt{round_ + 1}", "loss": round(float(loss), 4), "changed": round(changed, 4)})
    log_prior, durations = corpus_stats(labels)
    topo = topo.with_durations(durations)
    model = AcousticModel(language=language, config=config, lexicon=lexicon or head.lexicon, topology=topo, mlp=mlp,
                          log_prior=log_prior, gmm=head.gmm)
    return model, labels
