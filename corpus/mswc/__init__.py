"""MSWC builder: Common Voice -> 1-second keyword clips, speaker-disjoint splits, metadata, outlier scores.

    from corpus.mswc import BuildConfig, build_mswc
    lang_dir = build_mswc("data/cv/cv-corpus-17.0/lg", "lg", "data/mswc", BuildConfig(), engine="local")

Stages (`STAGES`): ingest, normalize, align, extract, score, split, validate; see `corpus.mswc.pipeline`
for the layout, resume and report, and each stage's module for its rules. Command line:
`python -m corpus mswc build --cv CV_LANG_DIR --lang lg --out OUT [--engine spark]`.
"""

from corpus.mswc.config import STAGES, BuildConfig
from corpus.mswc.pipeline import (BuildError, BuildStopped, ValidationFailed, build_mswc, read_clip_records,
                                  read_report)

__all__ = ["BuildConfig", "build_mswc", "STAGES", "BuildError", "BuildStopped", "ValidationFailed", "read_report",
           "read_clip_records"]
