"""A trained model folder as a recognizer: audio in, LibriSpeech-normalized text out.

Model folder: `config.json` (ConformerConfig, FeatureConfig, TrainConfig), `model.weights.h5`,
`tokens.json` (+ `bpe.model`), and optionally `lm.arpa` + `lexicon.txt` for LM decoding.
Long audio is cut at its quietest 100 ms near every `block_s` boundary and decoded piece by piece.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from corpus.audio import read_blocks, resample
from corpus.configs import from_jsonable, read_json

from asr.decode import LmDecoder, greedy, log_softmax, prefix_beam_search
from asr.features import FeatureConfig, log_mel
from asr.model import ConformerConfig, build_conformer, output_lengths
from asr.tokens import Tokenizer, load_tokenizer

__all__ = ["Recognizer", "ModelFolderError", "split_long_audio"]


class ModelFolderError(ValueError):
    """A model folder is missing a file or holds an unreadable one."""


def split_long_audio(samples: np.ndarray, sample_rate_hz: int, *, block_s: float = 15.0,
                     search_s: float = 3.0) -> list[tuple[int, int]]:
    """(start, end) sample spans of at most ~block_s, cut at the lowest-energy 100 ms window in the last
    `search_s` of each block, so that cuts fall in pauses rather than inside words."""
    total, block = len(samples), int(block_s * sample_rate_hz)
    window = max(1, sample_rate_hz // 10)
    spans, start = [], 0
    while total - start > block:
        low = start + block - int(search_s * sample_rate_hz)
        energy = np.convolve(samples[low:start + block] ** 2, np.ones(window), mode="valid")
        cut = low + int(np.argmin(energy)) + window // 2 if energy.size else start + block
        spans.append((start, cut))
        start = cut
    spans.append((start, total))
    return spans


@dataclass
class Recognizer:
    model: object
    model_config: ConformerConfig
    features: FeatureConfig
    tokenizer: Tokenizer
    folder: Path
    lm: LmDecoder | None = None

    @classmethod
    def load(cls, folder: str | os.PathLike[str], *, use_lm: bool = False) -> "Recognizer":
        folder = Path(folder)
        for name in ("config.json", "model.weights.h5", "tokens.json"):
            if not (folder / name).is_file():
                raise ModelFolderError(f"{folder}: {name} is missing (not a model folder written by `asr train`)")
        config = read_json(folder / "config.json")
        model_config = from_jsonable(ConformerConfig, config["model"])
        model = build_conformer(model_config)
        model.load_weights(folder / "model.weights.h5")
        recognizer = cls(model=model, model_config=model_config, features=from_jsonable(FeatureConfig,
                         config["features"]), tokenizer=load_tokenizer(folder), folder=folder)
        if use_lm:
            recognizer.lm = recognizer.load_lm()
        return recognizer

    def load_lm(self, **options) -> LmDecoder:
        arpa, lexicon = self.folder / "lm.arpa", self.folder / "lexicon.txt"
        if not arpa.is_file() or not lexicon.is_file():
            raise ModelFolderError(f"{self.folder}: lm.arpa / lexicon.txt missing (train with --lm)")
        words = lexicon.read_text(encoding="utf-8").split()
        return LmDecoder(arpa_path=str(arpa), vocabulary=self.tokenizer.vocabulary, words=words,
                         spell=self.spell, **options)

    def spell(self, word: str) -> list[str]:
        """A lexicon word as tokenizer units, ending with the word boundary for characters."""
        units = [self.tokenizer.vocabulary[i] for i in self.tokenizer.encode(word)]
        return units + ["|"] if self.tokenizer.kind == "char" else units

    def log_probs(self, feature_list: Sequence[np.ndarray], *, batch_frames: int = 20000) -> list[np.ndarray]:
        """Per-utterance [frames/4, vocab] log-probabilities; batches sorted by length to limit padding."""
        order = sorted(range(len(feature_list)), key=lambda i: len(feature_list[i]))
        results: list[np.ndarray | None] = [None] * len(feature_list)
        start = 0
        while start < len(order):
            end = start + 1
            while end < len(order) and len(feature_list[order[end]]) * (end - start + 1) <= batch_frames:
                end += 1
            chosen = order[start:end]
            frames = max(len(feature_list[i]) for i in chosen)
            batch = np.zeros((len(chosen), frames, self.model_config.mel_bands), np.float32)
            lengths = np.array([len(feature_list[i]) for i in chosen], np.int32)
            for row, i in enumerate(chosen):
                batch[row, :len(feature_list[i])] = feature_list[i]
            logits = np.asarray(self.model({"features": batch, "lengths": lengths}, training=False))
            for row, i in enumerate(chosen):
                results[i] = log_softmax(logits[row, :int(output_lengths(lengths[row]))])
            start = end
        return results  # type: ignore[return-value]

    def decode(self, log_probs: np.ndarray, method: str = "greedy", beam: int = 8) -> str:
        if method == "greedy":
            return self.tokenizer.decode(greedy(log_probs))
        if method == "beam":
            return self.tokenizer.decode(prefix_beam_search(log_probs, beam=beam))
        if method == "lm":
            if self.lm is None:
                self.lm = self.load_lm()
            return self.lm.decode(log_probs)
        raise ValueError(f"unknown decoding method {method!r}; choose greedy, beam or lm")

    def transcribe_features(self, feature_list: Sequence[np.ndarray], method: str = "greedy") -> list[str]:
        return [self.decode(lp, method) for lp in self.log_probs(feature_list)]

    def transcribe(self, samples: np.ndarray, sample_rate_hz: int, method: str = "greedy") -> str:
        samples = resample(np.asarray(samples, np.float32), sample_rate_hz, self.features.sample_rate_hz)
        spans = split_long_audio(samples, self.features.sample_rate_hz)
        pieces = [log_mel(samples[a:b], self.features) for a, b in spans if b - a > 0]
        return " ".join(t for t in self.transcribe_features(pieces, method) if t)

    def transcribe_file(self, path: str | os.PathLike[str], method: str = "greedy", block_s: float = 300.0) -> str:
        """Any length: read in blocks of `block_s` seconds, each cut into pieces at pauses."""
        texts = [self.transcribe(block, self.features.sample_rate_hz, method)
                 for _, block in read_blocks(path, block_s=block_s, sample_rate_hz=self.features.sample_rate_hz)]
        return " ".join(t for t in texts if t)
