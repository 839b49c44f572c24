"""Training and evaluation data: sources -> utterances -> features -> length-bucketed batches (tf.data).

Sources (`read_source`): a LibriSpeech tree (the `LibriSpeech` folder, its parent, or one split folder;
read by `corpus.formats.librispeech`), a NeMo manifest (JSON lines with audio_filepath, duration, text,
optional offset), or `corpus.manifest` supervisions (JSONL(.gz) with a `recordings.jsonl[.gz]` beside it),
which is what the People's Speech builder writes.

Every utterance that cannot be used is counted by reason in a `FilterReport`, never dropped silently:
too long or too short, empty text, unreadable audio, and above all token sequences that cannot fit the
model's output frames (CTC needs one frame per token plus one blank between repeated tokens; such an
utterance gives an infinite loss, the usual cause of NaN losses).

Batches are planned in Python from (seed, epoch) alone and SpecAugment draws from (seed, step), so a
run resumed at step k sees exactly the batches and masks an uninterrupted run would have seen.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from corpus.audio import AudioError, load_audio, resample
from corpus.engines import map_ordered
from corpus.formats.librispeech import SPLITS, librispeech_root, read_librispeech

from asr.features import FeatureConfig, frames_for, log_mel

__all__ = ["Utterance", "DataError", "DataConfig", "FilterReport", "Example", "read_source", "prepare",
           "plan_batches", "make_batch", "ctc_frames_needed", "as_dataset"]


class DataError(ValueError):
    """A data source cannot be read at all (names the path and the reason)."""


@dataclass(frozen=True, kw_only=True)
class Utterance:
    id: str
    path: str
    text: str
    start_s: float = 0.0
    duration_s: float | None = None
    speaker: str = ""


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    max_duration_s: float = 20.0
    min_duration_s: float = 0.2
    batch_frames: int = 8000  # padded feature frames per batch (10 ms each)
    max_batch_utterances: int = 64
    speed_factors: tuple[float, ...] = (1.0,)  # e.g. (0.9, 1.0, 1.1): each training utterance at each speed
    freq_masks: int = 2
    freq_mask_width: int = 15
    time_masks: int = 2
    time_mask_share: float = 0.05  # each time mask up to this share of the utterance
    sorted_epochs: int = 1  # SortaGrad: the first N epochs go shortest batch first (CTC leaves its plateau
    # sooner on short utterances), later epochs in a shuffled order


@dataclass
class FilterReport:
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one utterance id with it

    def drop(self, reason: str, utterance_id: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, utterance_id)

    def as_dict(self) -> dict:
        return {"kept": self.kept, "dropped": dict(sorted(self.dropped.items())), "examples": self.examples}

    def summary(self) -> str:
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.dropped.items()))
        return f"{self.kept} utterances kept" + (f"; dropped: {parts}" if parts else "")


@dataclass(frozen=True)
class Example:
    id: str
    features: np.ndarray  # float16 [frames, mel]
    tokens: np.ndarray  # int32 [tokens]
    text: str
    duration_s: float


def _librispeech_dir(path: Path) -> list[tuple[Path, str]]:
    root = librispeech_root(path)
    if root.name in SPLITS or (path.is_dir() and any(p.name.isdigit() for p in path.iterdir() if p.is_dir())):
        return [(path.parent, path.name)]
    splits = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not splits:
        raise DataError(f"{path}: no LibriSpeech split folders (e.g. train-clean-100) found")
    return [(root, split) for split in splits]


def _read_librispeech(path: Path, splits: Sequence[str] | None) -> tuple[list[Utterance], list[str]]:
    utterances, problems = [], []
    for root, split in _librispeech_dir(path):
        if splits and split not in splits:
            continue
        recordings, supervisions, found = read_librispeech(root, split)
        problems.extend(str(p) for p in found if "SPEAKERS.TXT" not in p.path)
        paths = {r.id: r.path for r in recordings}
        utterances += [Utterance(id=s.id, path=paths[s.recording_id], text=s.text, duration_s=s.duration_s,
                                 speaker=s.speaker) for s in supervisions]
    return utterances, problems


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"{path}:{number}: not JSON: {error}") from None


def _read_manifest(path: Path) -> tuple[list[Utterance], list[str]]:
    rows = list(_jsonl(path))
    if not rows:
        raise DataError(f"{path}: manifest is empty")
    utterances, problems = [], []
    if "audio_filepath" in rows[0][1]:  # NeMo
        for number, row in rows:
            if not isinstance(row.get("audio_filepath"), str) or not isinstance(row.get("text"), str):
                problems.append(f"{path}:{number}: needs audio_filepath and text")
                continue
            audio = Path(row["audio_filepath"])
            audio = audio if audio.is_absolute() else path.parent / audio
            utterances.append(Utterance(id=str(row.get("id", f"{path.stem}-{number:06d}")), path=str(audio),
                                        text=row["text"], start_s=float(row.get("offset", 0.0)),
                                        duration_s=row.get("duration"), speaker=str(row.get("speaker", ""))))
        return utterances, problems
    if "recording_id" in rows[0][1]:  # corpus.manifest supervisions
        recordings = next((path.parent / name for name in ("recordings.jsonl.gz", "recordings.jsonl")
                           if (path.parent / name).is_file()), None)
        if recordings is None:
            raise DataError(f"{path}: supervisions need recordings.jsonl[.gz] in the same folder")
        paths = {row["id"]: row["path"] for _, row in _jsonl(recordings)}
        for number, row in rows:
            audio = paths.get(row.get("recording_id"))
            if audio is None:
                problems.append(f"{path}:{number}: recording {row.get('recording_id')!r} not in {recordings.name}")
                continue
            audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
            utterances.append(Utterance(id=row["id"], path=str(audio_path), text=row["text"],
                                        start_s=float(row["start_s"]), duration_s=float(row["duration_s"]),
                                        speaker=str(row.get("speaker", ""))))
        return utterances, problems
    raise DataError(f"{path}: neither a NeMo manifest (audio_filepath) nor supervisions (recording_id)")


def read_source(spec: str | os.PathLike[str], *, splits: Sequence[str] | None = None
                ) -> tuple[list[Utterance], list[str]]:
    """Utterances of a LibriSpeech tree or a manifest file, and the problems met reading it."""
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_librispeech(path, splits)
    return _read_manifest(path)


def ctc_frames_needed(tokens: Sequence[int]) -> int:
    """Output frames CTC needs: one per token and a blank between each pair of equal neighbours."""
    return len(tokens) + sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)


def _features_of(job: tuple[Utterance, FeatureConfig, tuple[float, ...]]) -> list[np.ndarray] | str:
    utterance, features, speeds = job
    try:
        audio = load_audio(utterance.path, sample_rate_hz=features.sample_rate_hz, start_s=utterance.start_s,
                           duration_s=utterance.duration_s if utterance.start_s else None)
    except AudioError as error:
        return f"unreadable audio ({error.reason})"
    out = []
    for speed in speeds:
        # Speed perturbation as in Kaldi: resample, so tempo and pitch change together.
        samples = audio if speed == 1.0 else resample(audio, int(round(features.sample_rate_hz * speed)),
                                                       features.sample_rate_hz)
        out.append(log_mel(samples, features).astype(np.float16))
    return out


def prepare(utterances: Sequence[Utterance], tokenize, *, features: FeatureConfig, config: DataConfig,
            train: bool, jobs: int | None = None, progress: bool = True) -> tuple[list[Example], FilterReport]:
    """Features and tokens of every usable utterance; the rest counted in the report by reason."""
    report = FilterReport()
    candidates = []
    for utterance in utterances:
        if utterance.duration_s is not None and utterance.duration_s > config.max_duration_s:
            report.drop(f"longer than {config.max_duration_s:g} s", utterance.id)
        elif utterance.duration_s is not None and utterance.duration_s < config.min_duration_s:
            report.drop(f"shorter than {config.min_duration_s:g} s", utterance.id)
        elif not tokenize(utterance.text):
            report.drop("no text left after normalization", utterance.id)
        else:
            candidates.append(utterance)
    speeds = config.speed_factors if train else (1.0,)
    jobs_list = [(u, features, speeds) for u in candidates]
    examples = []
    for utterance, result in zip(candidates, map_ordered(_features_of, jobs_list, jobs=jobs, desc="features",
                                                         unit="utt", progress=progress, chunksize=8)):
        if isinstance(result, str):
            report.drop(result.split(" (")[0], utterance.id)
            continue
        tokens = np.asarray(tokenize(utterance.text), np.int32)
        for speed, matrix in zip(speeds, result):
            duration_s = len(matrix) * features.hop_ms / 1000
            if duration_s > config.max_duration_s * max(speeds):
                report.drop(f"longer than {config.max_duration_s:g} s", utterance.id)
                continue
            if ctc_frames_needed(tokens) > (len(matrix) + 3) // 4:
                report.drop("tokens do not fit the output frames", utterance.id)
                continue
            suffix = "" if speed == 1.0 else f"@{speed:g}"
            examples.append(Example(id=utterance.id + suffix, features=matrix, tokens=tokens, text=utterance.text,
                                    duration_s=duration_s))
    report.kept = len(examples)
    return examples, report


def plan_batches(examples: Sequence[Example], config: DataConfig, *, seed: int, epoch: int) -> list[list[int]]:
    """Length bucketing: shuffle, sort within windows of similar lengths, fill batches up to `batch_frames`
    padded frames, shuffle the batch order. In the first `config.sorted_epochs` epochs (SortaGrad) the
    whole epoch is one window and batches come shortest first. A pure function of (lengths, config, seed,
    epoch)."""
    rng = np.random.default_rng([seed, epoch, 7])
    order = rng.permutation(len(examples))
    sorted_epoch = epoch < config.sorted_epochs
    window = len(order) if sorted_epoch else max(1, config.max_batch_utterances * 8)
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: len(examples[i].features))
        batch: list[int] = []
        for index in chunk:
            longest = max([len(examples[i].features) for i in batch] + [len(examples[index].features)])
            if batch and (longest * (len(batch) + 1) > config.batch_frames or
                          len(batch) >= config.max_batch_utterances):
                batches.append(batch)
                batch = []
            batch.append(int(index))
        if batch:
            batches.append(batch)
    if sorted_epoch:
        return batches
    return [batches[i] for i in rng.permutation(len(batches))]


def _spec_augment(features: np.ndarray, length: int, config: DataConfig, rng: np.random.Generator) -> None:
    mel = features.shape[1]
    for _ in range(config.freq_masks):
        width = int(rng.integers(0, config.freq_mask_width + 1))
        start = int(rng.integers(0, max(1, mel - width)))
        features[:length, start:start + width] = 0.0
    for _ in range(config.time_masks):
        width = int(rng.integers(0, int(config.time_mask_share * length) + 1))
        start = int(rng.integers(0, max(1, length - width)))
        features[start:start + width] = 0.0


def make_batch(examples: Sequence[Example], indices: Sequence[int], *, config: DataConfig | None = None,
               rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Padded arrays; SpecAugment when `config` and `rng` are given. Labels are padded with 0 (blank)."""
    chosen = [examples[i] for i in indices]
    frames = max(len(e.features) for e in chosen)
    labels = max(len(e.tokens) for e in chosen)
    features = np.zeros((len(chosen), frames, chosen[0].features.shape[1]), np.float32)
    tokens = np.zeros((len(chosen), labels), np.int32)
    for row, example in enumerate(chosen):
        features[row, :len(example.features)] = example.features
        tokens[row, :len(example.tokens)] = example.tokens
        if config is not None and rng is not None:
            _spec_augment(features[row], len(example.features), config, rng)
    return {"features": features, "lengths": np.array([len(e.features) for e in chosen], np.int32),
            "labels": tokens, "label_lengths": np.array([len(e.tokens) for e in chosen], np.int32)}


def as_dataset(batch_iterator, mel_bands: int):
    """tf.data over planned batches (variable shapes), prefetched so feature padding overlaps training."""
    import tensorflow as tf

    signature = {"features": tf.TensorSpec((None, None, mel_bands), tf.float32),
                 "lengths": tf.TensorSpec((None,), tf.int32), "labels": tf.TensorSpec((None, None), tf.int32),
                 "label_lengths": tf.TensorSpec((None,), tf.int32)}
    return tf.data.Dataset.from_generator(lambda: batch_iterator, output_signature=signature).prefetch(2)


def audio_seconds(examples: Sequence[Example], indices: Sequence[int]) -> float:
    return float(sum(examples[i].duration_s for i in indices))


def frames_of(duration_s: float, features: FeatureConfig = FeatureConfig()) -> int:
    return frames_for(int(duration_s * features.sample_rate_hz), features)
