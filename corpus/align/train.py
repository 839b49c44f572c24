"""Training an aligner on the corpus itself, from a flat start (no outside model), by hard EM.

1. Lexicon: the corpus's graphemes (or an MFA dictionary's phones); units rarer than
   `min_unit_count` are left out, and utterances that use them are not trained on.
2. Flat start: in each utterance an energy detector finds the speech stretch; its frames are shared
   out evenly over the HMM states of the transcript (silence before and after).
3. GMM rounds: per class a diagonal Gaussian mixture on MFCC + deltas (13 x 3), re-estimated from the
   current alignment, then a Viterbi realignment with optional pauses between words; the mixtures
   double (1 -> 2 -> 4 -> 8) over the rounds, and state durations set the loop probabilities.
4. Hybrid rounds: an MLP on spliced log-mel frames learns the classes of the latest alignment; its
   posteriors divided by the class priors are the frame scores for the next realignment, and the
   MLP is trained again (warm start) on it.
5. Calibration: utterances held out of MLP training are aligned with their own transcripts and with
   other utterances' transcripts (4 each, near-duplicate sentences left out); the mismatch threshold
   goes a quarter of the way from the wrong pairs' 99th percentile to the correct clips' 1st
   percentile (or, where they overlap, to the cut with the fewest errors, false flags counted double)
   and is stored in the model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from corpus.align.aligner import Prepared, decode_prepared, prepare, word_units
from corpus.align.features import frame_energy, mfcc_deltas, speech_mask
from corpus.align.gmm import DiagGMM
from corpus.align.hmm import Topology, build_graph, viterbi_batch
from corpus.align.lexicon import PHONEMES, Lexicon, LexiconError, read_mfa_dictionary
from corpus.align.mlp import MLP
from corpus.align.model import AcousticModel, load_model
from corpus.align.types import AlignError, AlignerConfig, AlignItem
from corpus.align.units import choose_units, extend_lexicon, phoneme_lexicon, spelling_sources
from corpus.engines import map_ordered

__all__ = ["train_aligner"]

log = logging.getLogger(__name__)

_NEGATIVES_PER_CLIP = 4


@dataclass
class _Corpus:
    items: list[AlignItem]
    units: list[list[tuple[int, ...]]]
    mel: np.ndarray       # [N, 40] normalized log-mel, all utterances
    offsets: np.ndarray   # [B+1]

    def feats(self, b: int) -> np.ndarray:
        return self.mel[self.offsets[b]:self.offsets[b + 1]]


class _Extractor:
    """Picklable per-item feature job for the process pool (the model holds only the lexicon here)."""

    def __init__(self, model: AcousticModel) -> None:
        self.model = model

    def __call__(self, item: AlignItem) -> Prepared:
        return prepare(item, self.model)


def _flat_start(corpus: _Corpus, topo: Topology) -> np.ndarray:
    """Class per frame: silence outside the energy-detected speech, transcript states spread evenly inside."""
    labels = np.empty(len(corpus.mel), np.int32)
    S, L = topo.states_per_unit, topo.silence_states
    for b, units in enumerate(corpus.units):
        feats = corpus.feats(b)
        T = len(feats)
        states = np.array([u * S + k for w in units for u in w for k in range(S)], np.int32)
        mask = speech_mask(frame_energy(feats))
        idx = np.flatnonzero(mask)
        first, last = (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, T)
        if last - first < len(states):  # detector failed: use the whole utterance
            first, last = 0, T
        span = last - first
        inside = states[(np.arange(span) * len(states)) // span]
        out = np.empty(T, np.int32)
        out[first:last] = inside
        for a, b2 in ((0, first), (last, T)):
            if b2 > a:
                out[a:b2] = topo.silence_first + (np.arange(b2 - a) * L) // (b2 - a)
        labels[corpus.offsets[b]:corpus.offsets[b + 1]] = out
    return labels


def _durations(labels: np.ndarray, offsets: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean frames per visit of each class (runs of equal labels inside an utterance)."""
    starts = np.ones(len(labels), bool)
    starts[1:] = labels[1:] != labels[:-1]
    starts[offsets[:-1]] = True
    visits = np.bincount(labels[starts], minlength=n_classes).astype(np.float64)
    frames = np.bincount(labels, minlength=n_classes).astype(np.float64)
    return np.where(visits > 0, frames / np.maximum(visits, 1), 3.0)


def _realign(corpus: _Corpus, scores: np.ndarray, topo: Topology) -> tuple[np.ndarray, np.ndarray]:
    graphs = [build_graph(u, topo) for u in corpus.units]
    best, path = viterbi_batch(scores, corpus.offsets, graphs)
    labels = np.empty(len(path), np.int32)
    for b, g in enumerate(graphs):
        a, e = corpus.offsets[b], corpus.offsets[b + 1]
        labels[a:e] = g.cls[path[a:e]]
    return labels, best


class _Splicer:
    """Gathers spliced MLP inputs for global frame indices without building the whole spliced matrix."""

    def __init__(self, mel: np.ndarray, offsets: np.ndarray, splice: tuple[int, ...]) -> None:
        self.mel = mel
        self.splice = np.asarray(splice, np.int64)
        utt = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        self.lo = offsets[:-1][utt]
        self.hi = offsets[1:][utt] - 1

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        neigh = np.clip(idx[:, None] + self.splice[None, :], self.lo[idx][:, None], self.hi[idx][:, None])
        return self.mel[neigh].reshape(len(idx), -1)


def _mlp_scores(mlp: MLP, splicer: _Splicer, n: int, log_prior: np.ndarray, chunk: int = 65536) -> np.ndarray:
    out = np.empty((n, mlp.n_outputs), np.float32)
    for a in range(0, n, chunk):
        idx = np.arange(a, min(n, a + chunk))
        out[a:a + len(idx)] = mlp.log_posteriors(splicer(idx)) - log_prior
    return out


def _overlap(words: tuple[str, ...], other: tuple[str, ...]) -> float:
    """Share of `words` (as a set) that `other` also holds."""
    mine = set(words)
    return len(mine & set(other)) / max(1, len(mine))


def _calibrate(model: AcousticModel, held: list[Prepared], rng: np.random.Generator) -> dict[str, float]:
    """Threshold between held-out correct scores and scores with other utterances' transcripts."""
    if len(held) < 4:
        return {"threshold": -1.0, "scale": 0.2, "n_correct": len(held), "n_wrong": 0}
    correct = [r.alignment.custom["log_score"] for r in decode_prepared(model, held) if r.alignment is not None]
    shuffled = []
    for _ in range(_NEGATIVES_PER_CLIP):  # several other transcripts per clip: a steadier tail estimate
        perm = rng.permutation(len(held))
        for k, p in enumerate(held):
            other = held[perm[k] if perm[k] != k else (k + 1) % len(held)]
            if _overlap(p.item.words, other.item.words) > 0.5:
                continue  # a near-duplicate sentence (same template, a word changed) is not a clear mismatch
            shuffled.append(Prepared(replace(p.item, words=other.item.words), feats=p.feats, units=other.units,
                                     num_samples=p.num_samples, energy=p.energy))
    wrong = [r.alignment.custom["log_score"] for r in decode_prepared(model, shuffled) if r.alignment is not None]
    correct_a, wrong_a = np.asarray(correct), np.asarray(wrong)
    if len(correct_a) == 0:
        return {"threshold": -1.0, "scale": 0.2, "n_correct": 0, "n_wrong": len(wrong_a)}
    low_correct = float(np.percentile(correct_a, 1))
    if len(wrong_a) == 0:
        threshold = low_correct - 0.2
        high_wrong = float("nan")
    else:
        high_wrong = float(np.percentile(wrong_a, 99))
        if high_wrong < low_correct:
            # separated: a quarter of the gap above the wrong pairs. Speakers never seen in training score
            # lower than these held-out clips of known speakers, while wrong transcripts stay far below:
            # erring toward the wrong side keeps false flags rare.
            threshold = high_wrong + 0.25 * (low_correct - high_wrong)
        else:  # overlap: the cut with the fewest errors, weighting false flags of good clips double
            candidates = np.sort(np.concatenate([correct_a, wrong_a]))
            cost = [2 * np.mean(correct_a < c) + np.mean(wrong_a >= c) for c in candidates]
            threshold = float(candidates[int(np.argmin(cost))])
    spread = float(np.median(correct_a) - threshold)
    return {"threshold": round(float(threshold), 4), "scale": round(max(spread / 4, 0.02), 4),
            "correct_p1": round(low_correct, 4), "wrong_p99": round(high_wrong, 4) if len(wrong_a) else None,
            "correct_median": round(float(np.median(correct_a)), 4),
            "wrong_median": round(float(np.median(wrong_a)), 4) if len(wrong_a) else None, "n_correct": len(correct_a),
            "n_wrong": len(wrong_a)}


def train_aligner(items: Sequence[AlignItem], *, language: str, out_dir: str | Path,
                  config: AlignerConfig | None = None, jobs: int | None = None, progress: bool = True) -> Path:
    """Train an aligner on `items` (their own transcripts, no outside model) and save it to `out_dir`."""
    config = config or AlignerConfig()
    started, cpu_started = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(config.seed)
    items = list(items)
    if not items:
        raise AlignError("no utterances to train on")
    head_dir = _head_start(config, language, len(items), jobs=jobs, progress=progress)
    head = load_model(head_dir) if head_dir is not None else None
    if head is not None:
        lexicon, topo = extend_lexicon(head.lexicon, [it.words for it in items]), head.topology
        config = replace(config, splice=head.config.splice, states_per_unit=head.topology.states_per_unit,
                         silence_states=head.topology.silence_states)
    else:
        lexicon = _lexicon(items, language, config)
        if not lexicon.units:
            raise AlignError("the corpus has no unit frequent enough to model")
        topo = Topology.uniform(len(lexicon.units), config.states_per_unit, config.silence_states,
                                silence_penalty=config.silence_penalty, switch_penalty=config.switch_penalty)
    model = AcousticModel(language=language, config=config, lexicon=lexicon, topology=topo, mlp=None,
                          log_prior=None, gmm=None)
    usable = []
    for item in items:
        try:
            word_units(model, item.words)
            usable.append(item)
        except LexiconError:
            continue
    unusable = len(items) - len(usable)  # words with characters outside the unit inventory, empty transcripts
    if len(usable) > config.max_train_utterances:
        keep = np.sort(rng.choice(len(usable), config.max_train_utterances, replace=False))
        usable = [usable[i] for i in keep]
    prepared = [p for p in map_ordered(_Extractor(model), usable, jobs=jobs, desc="align train: features",
                                       unit="utt", chunksize=8, progress=progress) if p.error is None]
    if len(prepared) < 2:
        raise AlignError(f"only {len(prepared)} usable utterances (of {len(items)}); need more to train")
    order = rng.permutation(len(prepared))
    n_held = int(round(config.calibration_share * len(prepared))) if len(prepared) >= 40 else 0
    held = [prepared[i] for i in order[:n_held]]
    train = [prepared[i] for i in sorted(order[n_held:])]
    offsets = np.concatenate([[0], np.cumsum([len(p.feats) for p in train])]).astype(np.int64)
    corpus = _Corpus(items=[p.item for p in train], units=[p.units for p in train],
                     mel=np.concatenate([p.feats for p in train]), offsets=offsets)
    feature_s = time.perf_counter() - started
    if head is not None:
        return _finish_adapted(head, lexicon, corpus, held, config=config, language=language, rng=rng, items=items,
                               unusable=unusable, head_dir=head_dir, started=started, feature_s=feature_s,
                               progress=progress, out_dir=out_dir, jobs=jobs)
    cep = np.concatenate([mfcc_deltas(corpus.feats(b)) for b in range(len(train))])
    C = topo.n_classes
    labels = _flat_start(corpus, topo)
    gmm = DiagGMM.initial(C, cep.shape[1])
    bar = tqdm(total=len(config.gmm_mixtures) + config.mlp_rounds, desc="align train: EM", disable=not progress,
               leave=False)
    history = []
    for mixtures in config.gmm_mixtures:
        gmm = gmm.split(mixtures)
        gmm.update(cep, labels)
        topo = topo.with_durations(_durations(labels, corpus.offsets, C))
        scores = np.concatenate([gmm.loglik(cep[a:a + 16384]) for a in range(0, len(cep), 16384)])
        labels, best = _realign(corpus, scores, topo)
        history.append({"stage": f"gmm{mixtures}", "seconds": round(time.perf_counter() - started, 1),
                        "cpu_seconds": round(time.process_time() - cpu_started, 1),
                        "loglik_per_frame": round(float(np.sum(best[np.isfinite(best)]) / len(cep)), 3)})
        bar.update(1)
    del cep
    mlp = None
    log_prior = None
    splicer = _Splicer(corpus.mel, corpus.offsets, config.splice)
    for round_ in range(config.mlp_rounds):
        counts = np.bincount(labels, minlength=C).astype(np.float64) + 1.0
        log_prior = np.log(counts / counts.sum()).astype(np.float32)
        if mlp is None:
            mlp = MLP.create([splicer.mel.shape[1] * len(config.splice), *config.mlp_hidden, C], rng)
        epochs = config.mlp_epochs[min(round_, len(config.mlp_epochs) - 1)]
        subset = np.arange(len(labels))
        if len(subset) > config.mlp_max_frames:
            subset = np.sort(rng.choice(len(subset), config.mlp_max_frames, replace=False))
        loss = mlp.train(lambda idx: splicer(subset[idx]), labels[subset], epochs=epochs, rng=rng,
                         lr=1e-3 if round_ == 0 else 5e-4)
        topo = topo.with_durations(_durations(labels, corpus.offsets, C))
        scores = _mlp_scores(mlp, splicer, len(labels), log_prior)
        new_labels, best = _realign(corpus, scores, topo)
        changed = float(np.mean(new_labels != labels))
        labels = new_labels
        history.append({"stage": f"mlp{round_ + 1}", "seconds": round(time.perf_counter() - started, 1),
                        "cpu_seconds": round(time.process_time() - cpu_started, 1),
                        "loss": round(loss, 4), "changed": round(changed, 4)})
        bar.update(1)
    bar.close()
    if mlp is not None:
        counts = np.bincount(labels, minlength=C).astype(np.float64) + 1.0
        log_prior = np.log(counts / counts.sum()).astype(np.float32)
    model = AcousticModel(language=language, config=config, lexicon=lexicon, topology=topo, mlp=mlp,
                          log_prior=log_prior, gmm=gmm)
    model.calibration = _calibrate(model, held, rng)
    model.summary = {"utterances": len(items), "unusable": unusable, "trained_on": len(train), "held_out": len(held),
                     "init": "flat", "small_corpus": len(items) < config.min_flat_start_utterances,
                     **_units_summary(lexicon, items),
                     "frames": int(len(labels)), "feature_seconds": round(feature_s, 2),
                     "train_seconds": round(time.perf_counter() - started, 2), "history": history}
    log.info("aligner trained on %d utterances in %.1f s", len(train), time.perf_counter() - started)
    return model.save(out_dir)


def _units_summary(lexicon: Lexicon, items: list[AlignItem]) -> dict:
    """What the units are and which corpus words could only be spelled by letters (espeak gave nothing usable)."""
    sources = spelling_sources(lexicon, (w for it in items for w in it.words))
    by_letters = sources.get("letters", [])
    return {"units": lexicon.kind, "unit_count": len(lexicon.units), "words_spelled_by_letters": len(by_letters),
            "words_spelled_by_letters_examples": by_letters[:20]}


def _lexicon(items: list[AlignItem], language: str, config: AlignerConfig) -> Lexicon:
    """An MFA dictionary's phones, else espeak-ng phonemes or graphemes (`units.choose_units`)."""
    if config.dictionary:
        return Lexicon.from_words((w for it in items for w in it.words),
                                  dictionary=read_mfa_dictionary(config.dictionary), min_count=config.min_unit_count)
    try:
        if choose_units(config.units, language, [it.words for it in items]) == PHONEMES:
            return phoneme_lexicon([it.words for it in items], language, min_count=config.min_unit_count)
    except LexiconError as error:
        raise AlignError(str(error)) from None
    return Lexicon.from_words((w for it in items for w in it.words), min_count=config.min_unit_count)


def _head_start(config: AlignerConfig, language: str, n_items: int, *, jobs: int | None,
                progress: bool) -> Path | None:
    """The model folder to adapt, or None for a flat start (logged when the corpus is small for one)."""
    small = n_items < config.min_flat_start_utterances
    if config.init == "flat" or (config.init == "auto" and not small):
        if small:
            log.warning("%d utterances are few for a flat start (>= %d advised): init='head_start' or 'auto' "
                        "starts from the synthetic head start instead", n_items, config.min_flat_start_utterances)
        return None
    if config.head_start:
        return Path(config.head_start)
    from corpus.align.headstart import head_start_model

    if small:
        log.info("%d utterances: too few for a flat start, adapting the synthetic head start", n_items)
    return head_start_model(language, jobs=jobs, progress=progress)


def _head_start_voices(head_dir: Path) -> list[str]:
    """The synthesizer families a synthetic head start heard (its head_start.json); [] for any other model."""
    try:
        record = json.loads((Path(head_dir) / "head_start.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return ["espeak", *record.get("adapted_to", [])]


def _finish_adapted(head: AcousticModel, lexicon: Lexicon, corpus: _Corpus, held: list[Prepared], *,
                    config: AlignerConfig, language: str, rng: np.random.Generator, items: list[AlignItem], unusable: int, head_dir: Path,
                    started: float, feature_s: float, progress: bool, out_dir: str | Path,
                    jobs: int | None) -> Path:
    """Adapt the head start to the corpus (EM; with synthetic readings of its transcripts), calibrate the
    mismatch score and save."""
    from corpus.align.adapt import adapt_model, synthetic_readings

    history: list[dict] = []

    def note(entry: dict) -> None:
        history.append({**entry, "seconds": round(time.perf_counter() - started, 1)})

    readings = synthetic_readings(head, corpus.items, voices=config.adapt_synthetic_voices, seed=config.seed,
                                  language=language, max_readings=config.adapt_synthetic_max, jobs=jobs)
    mel, units = corpus.mel, list(corpus.units)
    if readings:
        mel = np.concatenate([mel] + [f for f, _ in readings])
        units += [corpus.units[i] for _, i in readings]
    offsets = np.concatenate([corpus.offsets, corpus.offsets[-1] + np.cumsum([len(f) for f, _ in readings],
                                                                               dtype=np.int64)])
    note({"stage": "synthetic_readings", "count": len(readings)})
    model, labels = adapt_model(head, mel, offsets, units, config=config, language=language, rng=rng, on_round=note,
                                real_count=len(corpus.units), lexicon=lexicon)
    # no held-out utterances in a small corpus: calibrate on the corpus itself (the clips this model aligns)
    calibration_set = held if len(held) >= 4 else [Prepared(it, feats=corpus.feats(b), units=corpus.units[b],
                                                            num_samples=0) for b, it in enumerate(corpus.items)]
    model.calibration = _calibrate(model, calibration_set, rng)
    model.summary = {"utterances": len(items), "unusable": unusable, "trained_on": len(corpus.units),
                     "held_out": len(held), "init": "head_start", "head_start": str(head_dir),
                     "head_start_voices": _head_start_voices(head_dir),
                     "small_corpus": len(items) < config.min_flat_start_utterances,
                     **_units_summary(model.lexicon, items),
                     "calibrated_in_sample": len(held) < 4, "frames": int(corpus.offsets[-1]),
                     "synthetic_readings": len(readings),
                     "feature_seconds": round(feature_s, 2),
                     "train_seconds": round(time.perf_counter() - started, 2), "history": history}
    log.info("head start adapted on %d utterances in %.1f s", len(corpus.units), time.perf_counter() - started)
    return model.save(out_dir)
