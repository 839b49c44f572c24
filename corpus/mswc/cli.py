"""`python -m corpus mswc build`: Common Voice language folder -> MSWC-layout keyword dataset."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from corpus.cli import UserError, positive_int

__all__ = ["register", "register_commands"]

_DESCRIPTION = """\
Build the Multilingual Spoken Words Corpus layout for one language from a Common Voice release:

  ingest -> normalize -> align -> extract -> score -> split -> validate

writes <out>/<lang>/clips/<word>/common_voice_<lang>_<id>.opus (1.000 s, Opus 48 kHz),
<lang>_splits.csv and <lang>_{train,dev,test}.csv (SET,LINK,WORD,VALID,SPEAKER,GENDER), metadata.json,
<lang>_scores.csv (outlier scores), alphabet.json, keyword_frequency.png, report.json (per stage: in,
kept, dropped by reason, and every bad item with its reason) and build_config.json. Work files go to
<out>/<lang>/.work/. Rerunning the same command resumes: finished stages and items are skipped, and a
run killed at any point ends with exactly the output of an uninterrupted one.

Alignment: by default the project's forced aligner is trained on the language's own sentences; with
--textgrids DIR, TextGrids named <clip id>.TextGrid (MSWC's published alignments, MFA output) are
imported instead.
"""

_EXAMPLE = """
examples:
  python -m corpus mswc build --cv data/cv/cv-corpus-17.0-synthetic/lg --lang lg --out data/mswc
  python -m corpus mswc build --cv data/cv --lang lg --out data/mswc --engine spark --spark-master local[2]
  python -m corpus mswc build --cv data/cv --lang lg --out data/mswc --from-stage score --drop-outliers 5
"""


def _shares(text: str) -> tuple[float, float, float]:
    parts = [float(p) for p in text.replace("/", ",").split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"need three shares like 80/10/10, got {text!r}")
    total = sum(parts)
    if total <= 0 or min(parts) < 0:
        raise argparse.ArgumentTypeError(f"shares must be >= 0 with a positive sum, got {text!r}")
    return tuple(p / total for p in parts)  # type: ignore[return-value]


def _percent(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 100.0:
        raise argparse.ArgumentTypeError(f"a percentage in [0, 100), got {text}")
    return value


def _config(args: argparse.Namespace):
    from corpus.mswc.config import BuildConfig, config_from_json

    base = BuildConfig()
    if args.config:
        try:
            base = config_from_json(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as error:
            raise UserError(f"--config {args.config}: {error}") from None
    overrides = {
        "tsv": args.tsv, "textgrids": str(Path(args.textgrids).resolve()) if args.textgrids else None,
        "aligner": "textgrid" if args.textgrids else None, "keep_mismatched": True if args.keep_mismatched else None,
        "drop_outliers": args.drop_outliers, "min_clips": args.min_clips, "min_chars": args.min_chars,
        "min_chars_logographic": args.min_chars_logographic, "shares": args.shares, "seed": args.seed,
        "write_wav": True if args.wav else None, "embedding": args.embedding, "score": False if args.no_score else None,
        "drop_silent": False if args.keep_silent else None, "oov_policy": args.oov_policy,
        "apostrophe": args.apostrophe, "hyphen": args.hyphen, "digits": args.digits, "version": args.version,
        "language_name": args.language_name, "on_error": args.on_error, "aligner_folds": args.aligner_folds,
        "mismatch_outlier_z": args.mismatch_outlier_z,
    }
    try:
        return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        raise UserError(str(error)) from None


def _build(args: argparse.Namespace) -> int:
    from corpus.engines import EngineError, parse_spark_conf
    from corpus.mswc.pipeline import BuildError, ValidationFailed, build_mswc

    config = _config(args)
    try:
        spark_conf = parse_spark_conf(args.spark_conf)
    except EngineError as error:
        raise UserError(str(error)) from None
    try:
        lang_dir = build_mswc(args.cv, args.lang, args.out, config, engine=args.engine, spark_master=args.spark_master,
                              spark_conf=spark_conf, jobs=args.jobs, from_stage=args.from_stage,
                              to_stage=args.to_stage, progress=not args.quiet)
    except ValidationFailed as error:
        print(f"error: {error}")
        for problem in error.problems[:20]:
            print(f"  {problem['item']}: {problem['reason']} {problem['detail']}")
        return 1
    except BuildError as error:
        raise UserError(str(error)) from None
    print(f"wrote {lang_dir}")
    return 0


def _add_build(sub: argparse._SubParsersAction) -> None:
    from corpus.mswc.config import STAGES

    parser = sub.add_parser("build", help="build an MSWC-layout keyword dataset from a Common Voice folder",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description=_DESCRIPTION + _EXAMPLE)
    parser.add_argument("--cv", required=True, help="Common Voice language folder (with validated.tsv), a "
                                                    "cv-corpus-* folder, or their parent")
    parser.add_argument("--lang", required=True, help="language code, e.g. lg")
    parser.add_argument("--out", required=True, help="output root; the release goes to OUT/<lang>/")
    parser.add_argument("--engine", choices=("local", "spark"), default="local",
                        help="local process pool (default) or Apache Spark")
    parser.add_argument("--spark-master", default="local[2]",
                        help="Spark master URL: local[N], spark://host:7077, yarn, k8s://... (default local[2])")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting, repeatable (e.g. spark.executor.memory=4g, "
                             "spark.pyspark.python=/opt/venv/bin/python)")
    parser.add_argument("--jobs", type=positive_int, default=None, help="local worker processes (default: all cores)")
    parser.add_argument("--from-stage", choices=STAGES, default=None, help="redo this stage and all after it")
    parser.add_argument("--to-stage", choices=STAGES, default=None, help="stop after this stage")
    parser.add_argument("--config", default=None, help="a build_config.json to start from (options below override)")
    parser.add_argument("--textgrids", default=None, help="import alignments from TextGrids in this folder instead "
                                                          "of training the aligner")
    parser.add_argument("--aligner-folds", type=positive_int, default=None,
                        help="cross-fitting folds: each sentence is aligned by a model trained on the others "
                             "(default 2; 1 trains one model on everything)")
    parser.add_argument("--keep-mismatched", action="store_true",
                        help="keep sentences the aligner flags as not matching their transcript")
    parser.add_argument("--mismatch-outlier-z", type=float, default=None, metavar="Z",
                        help="drop a flagged sentence only when its mismatch score is also Z MADs below the "
                             "median of its model's sentences (default 10; 0 trusts every flag)")
    parser.add_argument("--keep-silent", action="store_true", help="do not drop clips without speech at ingest")
    parser.add_argument("--drop-outliers", type=_percent, default=None, metavar="P",
                        help="mark the P%% of each keyword's clips farthest from its centroids VALID=False")
    parser.add_argument("--no-score", action="store_true", help="skip outlier scoring")
    parser.add_argument("--embedding", default=None,
                        help="outlier-score embedding: builtin (default), module:function, module:factory=ARG "
                             "(e.g. kws.outlier_embedding:embedder=models/embeddings/NAME), or a Keras model path")
    parser.add_argument("--min-clips", type=positive_int, default=None, help="clips a keyword needs (default 5)")
    parser.add_argument("--min-chars", type=positive_int, default=None, help="characters a keyword needs (default 3)")
    parser.add_argument("--min-chars-logographic", type=positive_int, default=None,
                        help="characters for Chinese/Japanese-type scripts (default 2)")
    parser.add_argument("--shares", type=_shares, default=None, help="TRAIN/DEV/TEST shares (default 80/10/10)")
    parser.add_argument("--seed", type=int, default=None, help="split and sampling seed (default 0)")
    parser.add_argument("--wav", action="store_true", help="also write 16 kHz WAV clips under OUT/<lang>/wav/")
    parser.add_argument("--tsv", default=None, help="Common Voice TSV to read (default validated)")
    parser.add_argument("--oov-policy", choices=("exclude_sentence", "drop_word"), default=None,
                        help="a word with characters outside the alphabet drops its sentence (default) or itself")
    parser.add_argument("--apostrophe", choices=("keep", "split"), default=None, help="in-word apostrophes")
    parser.add_argument("--hyphen", choices=("keep", "split"), default=None, help="in-word hyphens")
    parser.add_argument("--digits", choices=("exclude_sentence", "drop_token", "keep"), default=None,
                        help="tokens with digits")
    parser.add_argument("--version", default=None, help="version string for metadata.json")
    parser.add_argument("--language-name", default=None, help="language name for metadata.json")
    parser.add_argument("--on-error", choices=("skip", "stop"), default=None,
                        help="skip bad items and report them (default) or stop at the first")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary table")
    parser.set_defaults(func=_build)


def register_commands(sub: argparse._SubParsersAction) -> None:
    """The builder's commands (`build`) on an existing subparser set."""
    _add_build(sub)


def register(sub: argparse._SubParsersAction) -> None:
    """`mswc` with its subcommands, for `python -m corpus`."""
    parser = sub.add_parser("mswc", help="build MSWC-layout keyword datasets from Common Voice",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description=_DESCRIPTION + _EXAMPLE)
    commands = parser.add_subparsers(title="subcommands", metavar="COMMAND")
    register_commands(commands)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
