"""`BuildConfig`: every choice of the MSWC builder, frozen, saved as `build_config.json` in the output.

Each stage depends on a subset of the fields (`STAGE_FIELDS`); a stage's fingerprint is a hash of those
fields, of its input and of the previous stage's fingerprint, so changing a field reruns exactly the
stages it affects. How a build runs (engine, Spark master, worker count, progress bars) is not part of
the config: it never changes what is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from corpus.configs import from_jsonable, json_text

__all__ = ["BuildConfig", "STAGES", "STAGE_FIELDS", "config_to_json", "config_from_json"]

# The order the stages run in. Scoring comes before the split files are written because
# `drop_outliers` needs the scores; the split assignment itself does not depend on them.
STAGES = ("ingest", "normalize", "align", "extract", "score", "split", "validate")


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    # ---- ingest
    tsv: str = "validated"  # which Common Voice TSV to read (validated | train | dev | test | other ...)
    drop_silent: bool = True  # skip clips whose frame energies barely vary (noise only, no speech)
    silence_range_db: float = 10.0  # p95 - p10 of 25-ms frame energies below this -> silent
    min_duration_s: float = 0.3  # shorter decoded clips are reported and skipped
    # ---- normalize (None: the language's rule from corpus.text.rules_for)
    apostrophe: str | None = None  # keep | split (in-word apostrophes)
    hyphen: str | None = None  # keep | split (in-word hyphens)
    digits: str | None = None  # exclude_sentence | drop_token | keep
    alphabet_min_count: int = 5  # a character must occur this often to be in the alphabet ...
    alphabet_min_share: float = 1e-4  # ... and make up this share of all characters
    oov_policy: str = "exclude_sentence"  # a word outside the alphabet: exclude_sentence | drop_word
    # ---- align
    aligner: str = "train"  # train (corpus.align, trained on this language) | textgrid (import)
    textgrids: str | None = None  # folder of <clip id>.TextGrid files (searched recursively) for aligner=textgrid
    aligner_config: tuple[tuple[str, Any], ...] = ()  # (name, value) pairs for corpus.align.AlignerConfig
    aligner_folds: int = 2  # cross-fitting: each sentence aligned by a model trained on the other folds
    keep_mismatched: bool = False  # keep sentences the aligner flags as not matching their transcript
    mismatch_outlier_z: float = 10.0  # a flag counts when the mismatch score is also this many MADs low (0: any)
    min_alignment_score: float = 0.0  # sentences whose alignment score is lower are dropped
    # ---- extract
    min_chars: int = 3  # a keyword has at least this many characters ...
    min_chars_logographic: int = 2  # ... or this many in Chinese/Japanese-type scripts
    min_clips: int = 5  # and at least this many clips
    fade_s: float = 0.025
    write_wav: bool = False  # also write 16 kHz WAV under <lang>/wav/<folder>/<name>.wav
    # ---- score
    score: bool = True
    embedding: str = "builtin"  # builtin | module:function (audio 16 kHz -> vector) | Keras model path
    kmeans_k: int = 5
    kmeans_sample: int = 50
    # ---- split
    seed: int = 0  # split hash seed, k-means sampling seed
    shares: tuple[float, float, float] = (0.8, 0.1, 0.1)
    drop_outliers: float = 0.0  # percent of each keyword's farthest clips marked VALID=False
    version: str = "foundspeech-1"
    language_name: str | None = None  # for metadata.json; default from a small table, else the code
    # ---- errors
    on_error: str = "skip"  # skip (report and go on) | stop (the first bad item stops the build)

    def __post_init__(self) -> None:
        if self.aligner not in ("train", "textgrid"):
            raise ValueError(f"aligner must be train or textgrid, got {self.aligner!r}")
        if self.aligner == "textgrid" and not self.textgrids:
            raise ValueError("aligner=textgrid needs textgrids=<folder of TextGrid files>")
        if self.oov_policy not in ("exclude_sentence", "drop_word"):
            raise ValueError(f"oov_policy must be exclude_sentence or drop_word, got {self.oov_policy!r}")
        if self.on_error not in ("skip", "stop"):
            raise ValueError(f"on_error must be skip or stop, got {self.on_error!r}")
        shares = tuple(float(s) for s in self.shares)
        if len(shares) != 3 or min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-6:
            raise ValueError(f"shares must be three numbers >= 0 summing to 1, got {self.shares}")
        object.__setattr__(self, "shares", shares)
        object.__setattr__(self, "aligner_config", tuple((str(k), v) for k, v in self.aligner_config))
        if not 0.0 <= self.drop_outliers < 100.0:
            raise ValueError(f"drop_outliers is a percentage in [0, 100), got {self.drop_outliers}")
        if self.drop_outliers > 0 and not self.score:
            raise ValueError("drop_outliers needs scores (score=True)")
        if self.min_clips < 1 or self.min_chars < 1 or self.min_chars_logographic < 1:
            raise ValueError("min_clips, min_chars and min_chars_logographic must be >= 1")
        if self.aligner_folds < 1:
            raise ValueError("aligner_folds must be >= 1")
        if self.kmeans_k < 1 or self.kmeans_sample < 1:
            raise ValueError("kmeans_k and kmeans_sample must be >= 1")
        if not 0.0 <= self.fade_s < 0.5:
            raise ValueError(f"fade_s must be in [0, 0.5), got {self.fade_s}")


# Fields each stage reads. A change reruns that stage and every later one.
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "ingest": ("tsv", "drop_silent", "silence_range_db", "min_duration_s"),
    "normalize": ("apostrophe", "hyphen", "digits", "alphabet_min_count", "alphabet_min_share", "oov_policy"),
    "align": ("aligner", "textgrids", "aligner_config", "aligner_folds", "keep_mismatched",
              "mismatch_outlier_z", "min_alignment_score"),
    "extract": ("min_chars", "min_chars_logographic", "min_clips", "fade_s", "write_wav"),
    "score": ("score", "embedding", "kmeans_k", "kmeans_sample", "seed"),
    "split": ("seed", "shares", "drop_outliers", "version", "language_name"),
    "validate": (),
}
assert set(STAGE_FIELDS) == set(STAGES)
assert {f for fs in STAGE_FIELDS.values() for f in fs} | {"on_error"} == {f.name for f in dataclasses.fields(BuildConfig)}


def config_to_json(config: BuildConfig) -> str:
    return json_text(config)


def config_from_json(text: str) -> BuildConfig:
    return from_jsonable(BuildConfig, json.loads(text))
