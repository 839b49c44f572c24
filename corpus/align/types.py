"""The aligner's public data types: what goes in (`AlignItem`), what comes out (`AlignResult`), and the
training configuration (`AlignerConfig`, saved as JSON next to the model)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from corpus.configs import from_jsonable, json_text
from corpus.manifest import Alignment

__all__ = ["AlignItem", "AlignResult", "AlignerConfig", "AlignError"]


class AlignError(Exception):
    """An item cannot be aligned (bad transcript, audio or model); becomes `AlignResult.error`."""


@dataclass(frozen=True, kw_only=True)
class AlignItem:
    """One utterance to align; picklable."""

    id: str
    audio_path: str
    words: tuple[str, ...]  # already normalized words (corpus.text)
    start_s: float = 0.0    # optional span of the recording
    duration_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class AlignResult:
    id: str
    alignment: Alignment | None
    error: str | None = None  # why the item could not be aligned

    @property
    def ok(self) -> bool:
        return self.alignment is not None


@dataclass(frozen=True, kw_only=True)
class AlignerConfig:
    """How `train_aligner` builds a model. Defaults are what bench/align.py measures."""

    states_per_unit: int = 3
    silence_states: int = 3
    min_unit_count: int = 5             # units (graphemes, phonemes) rarer than this in the corpus are not units
    # "phonemes" (espeak-ng's, per language: corpus.align.units), "graphemes", or "auto" (phonemes where espeak
    # has a voice of the language's own and the spelling is deep, else graphemes: units.choose_units); a head
    # start's units win over this when adapting.
    # The units a model uses are its lexicon's kind (model.json) and summary["units"]
    units: str = "auto"
    dictionary: str | None = None       # MFA-format pronunciation dictionary (its phones replace `units`)
    max_train_utterances: int = 4000    # a random subset of a larger corpus is used for training
    gmm_mixtures: tuple[int, ...] = (1, 1, 1, 2, 4, 8)  # components per class, one Viterbi-EM round each
    mlp_rounds: int = 3                 # hybrid rounds: train MLP on the alignment, realign
    mlp_hidden: tuple[int, ...] = (256, 256)
    mlp_epochs: tuple[int, ...] = (3, 2, 2)  # per hybrid round (the last value repeats)
    mlp_max_frames: int = 400_000       # frames per MLP epoch (a random subset when there are more)
    splice: tuple[int, ...] = (-8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8)
    silence_penalty: float = -3.0       # log-prob cost of a pause between two words
    switch_penalty: float = -2.0        # free-loop cost of starting a unit (mismatch reference)
    calibration_share: float = 0.1      # utterances held out of MLP training to calibrate scores
    pause_edge_max_s: float = 0.05      # word edges at pauses move inwards to the signal's rise/fall (0: off)
    seed: int = 0
    # where training starts: "flat" (energy-based uniform segmentation of the corpus itself), "head_start"
    # (the synthetic head start of corpus.align.headstart, adapted to the corpus by EM), or "auto"
    # (head start when the corpus has fewer than `min_flat_start_utterances` usable utterances)
    init: str = "flat"
    head_start: str | None = None       # a model folder to start from (default: the cached synthetic one)
    min_flat_start_utterances: int = 150
    adapt_rounds: int = 3               # EM rounds from the head start: train the MLP on the alignment, realign
    adapt_epochs: int = 2               # MLP epochs per adaptation round
    adapt_lr: float = 3e-4
    adapt_synthetic_voices: int = 0     # synthetic readings of each transcript added to adaptation (0: none; 6
                                        # gained 1 point within 40 ms on real English, at 10x the adaptation time)
    adapt_synthetic_max: int = 600      # readings in all (a large corpus gets fewer per transcript)

    def __post_init__(self) -> None:
        if self.units not in ("auto", "phonemes", "graphemes"):
            raise ValueError(f"units must be 'auto', 'phonemes' or 'graphemes', not {self.units!r}")
        if self.init not in ("flat", "head_start", "auto"):
            raise ValueError(f"init must be 'flat', 'head_start' or 'auto', not {self.init!r}")
        if self.adapt_rounds < 1 or self.adapt_epochs < 1 or self.adapt_synthetic_voices < 0:
            raise ValueError("adapt_rounds and adapt_epochs must be >= 1, adapt_synthetic_voices >= 0")
        if self.states_per_unit < 1 or self.silence_states < 1:
            raise ValueError("states_per_unit and silence_states must be >= 1")
        if not self.gmm_mixtures or any(m < 1 for m in self.gmm_mixtures):
            raise ValueError("gmm_mixtures must be a non-empty tuple of positive counts")
        if self.mlp_rounds < 0 or not self.mlp_epochs:
            raise ValueError("mlp_rounds must be >= 0 and mlp_epochs non-empty")
        if not 0.0 <= self.calibration_share < 0.5:
            raise ValueError("calibration_share must be in [0, 0.5)")
        if 0 not in self.splice:
            raise ValueError("splice offsets must include 0")

    def to_json(self) -> str:
        return json_text(self)

    @staticmethod
    def from_json(text: str) -> "AlignerConfig":
        return from_jsonable(AlignerConfig, json.loads(text))

    @staticmethod
    def load(path: str | Path) -> "AlignerConfig":
        return AlignerConfig.from_json(Path(path).read_text(encoding="utf-8"))
