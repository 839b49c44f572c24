"""`python -m corpus peoples-speech build`: Internet Archive items -> the People's Speech-style dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from corpus.cli import UserError, positive_int

__all__ = ["register"]

_DESCRIPTION = """\
Build a People's Speech-style dataset from Internet Archive item folders (audio + SubRip/WebVTT captions +
<id>_metadata.json): ingest (licenses: CC-BY, CC-BY-SA, public domain; others excluded), normalize the
captions, adapt the language's synthetic head-start aligner to the corpus (built once per language and
cached under models/align-headstart/) and align each whole transcript to its whole audio
(mismatched documents are dropped after a probe of --probe-s seconds), cut 1-15 s utterances at pauses,
grade each by the CER of a recognizer's free output (clean < 20 %%, noisy < 38 %%), MinHash-dedup the
documents, split train/dev/test by document, and write:

  OUT/audio/<split>/<item>/<utt>.flac        16 kHz mono FLAC
  OUT/<subset>/<split>/nemo_manifest.jsonl   NeMo (audio_filepath, text, duration)
  OUT/<subset>/<split>/{recordings,supervisions}.jsonl.gz   lhotse-style manifests
  OUT/<subset>/<split>/data.parquet          Hugging Face style (id, audio, duration_ms, text, cer, tier,
                                             license, source_item)
  OUT/credits.csv  OUT/report.json  OUT/dedup.json  OUT/*.png
subsets: clean, clean_sa, noisy, noisy_sa (sa = CC-BY-SA). Resumable: rerun the same command after a kill.

recognizers (--recognizer): grammar (default; the aligner's model with a grammar from the document's own
text, no outside model), asr:<model dir> (the project's ASR through asr.plugin), module:<pkg.mod:func>[:<arg>].

example:
  python -m corpus synth-ia --out data/ia_demo --items 6 --minutes 2
  python -m corpus peoples-speech build --items data/ia_demo --lang en --out data/tps_demo
"""


def _build(args: argparse.Namespace) -> int:
    from corpus.peoples_speech.config import BuildConfig
    from corpus.peoples_speech.pipeline import BuildError, build_peoples_speech

    try:
        config = BuildConfig(language=args.lang, seed=args.seed, on_error=args.on_error, recognizer=args.recognizer,
                             probe_s=args.probe_s, shard_bytes=int(args.shard_mib * 1024 * 1024),
                             clean_max_cer=args.clean_max_cer, noisy_max_cer=args.noisy_max_cer,
                             aligner_init=args.aligner_init, head_start=args.head_start or "",
                             adapt_max_s=args.adapt_s)
    except ValueError as error:
        raise UserError(str(error)) from None
    if not Path(args.items).is_dir():
        raise UserError(f"--items {args.items}: no such folder")
    try:
        out = build_peoples_speech(args.items, args.out, config, engine=args.engine, spark_master=args.spark_master,
                                   jobs=args.jobs, progress=not args.quiet)
    except BuildError as error:
        raise UserError(str(error)) from None
    print(f"wrote {out} (report: {out / 'report.json'})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("peoples-speech", help="People's Speech-style dataset from Internet Archive items")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    build = commands.add_parser("build", help="build (or resume) the dataset", description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    build.add_argument("--items", required=True, help="folder of Internet Archive item folders")
    build.add_argument("--lang", default="en", help="language of the speech (default: %(default)s)")
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--engine", choices=("local", "spark"), default="local", help="where per-document work runs")
    build.add_argument("--spark-master", default="local[2]", help="Spark master (default: %(default)s)")
    build.add_argument("--recognizer", default="grammar", help="grammar | asr:<model dir> | module:<pkg.mod:func>")
    build.add_argument("--aligner-init", choices=("head_start", "flat"), default="head_start",
                       help="head_start: adapt the synthetic head start to the corpus (default); flat: train on "
                            "the corpus from a flat start, two passes (slower; used anyway when espeak-ng lacks "
                            "the language)")
    build.add_argument("--head-start", default=None, metavar="DIR",
                       help="head-start aligner folder (default: the cached one for --lang, built on first use)")
    build.add_argument("--adapt-s", type=float, default=240.0, metavar="S",
                       help="seconds of caption cues the head start adapts on, the most confident of each document in "
                            "turn (default: %(default)s; a fixed cost whatever the corpus size; 0: every cue)")
    build.add_argument("--on-error", choices=("skip", "stop"), default="skip",
                       help="skip: report bad items and go on (default); stop: stop at the first")
    build.add_argument("--probe-s", type=float, default=90.0, help="audio aligned before the mismatch decision")
    build.add_argument("--clean-max-cer", type=float, default=0.20, help="clean tier: CER below (default 0.20)")
    build.add_argument("--noisy-max-cer", type=float, default=0.38, help="noisy tier: CER below (default 0.38)")
    build.add_argument("--shard-mib", type=float, default=0.0, help="also write tar shards of about this size "
                                                                     "(MiB; 100 as TPS; 0: none)")
    build.add_argument("--seed", type=int, default=0, help="splits and dedup permutations (default: 0)")
    build.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: all cores)")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
