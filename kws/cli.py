"""`python -m kws` subcommands besides `train` and `detect`: `embedding`, `closed-set`, `synth-stream`.

TensorFlow is imported only when a command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from corpus.cli import UserError, add_run_options, positive_int

__all__ = ["register"]


def _trees(root: str, languages: list[str]):
    from kws.data import DataError, open_tree

    trees = {}
    for language in languages:
        try:
            trees[language] = open_tree(root, language)
        except DataError as error:
            raise UserError(str(error)) from None
    return trees


def _embedding_main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()

    from kws.data import DataError, make_noise_bank
    from kws.embedding import EmbeddingConfig, train_embedding

    logging.getLogger("kws").setLevel(logging.INFO)
    trees = _trees(args.data, args.langs.split(","))
    config = EmbeddingConfig(backbone=args.backbone, seed=args.seed,
                             exclude_words=tuple(args.exclude or ()), embedding_dim=args.dim)
    config = replace(config, fit=replace(config.fit, epochs=args.epochs))
    try:
        embedding = train_embedding(trees, config, args.out, noise=make_noise_bank(seed=args.seed),
                                    cache_dir=Path(args.cache), jobs=args.jobs)
    except DataError as error:
        raise UserError(str(error)) from None
    print(f"wrote {args.out}: {embedding.report['model']} on {embedding.report['words']} words, held-out word "
          f"accuracy {embedding.report['dev_accuracy']}")
    return 0


def _closed_set_main(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()

    from export.quantize import ExportError, accuracy_int8_vs_float, to_int8_tflite
    from kws.bundle import save_bundle
    from kws.closed_set import ClosedSetConfig, closed_set_words, train_closed_set
    from corpus.configs import to_jsonable
    from kws.data import DataError, make_noise_bank
    from kws.evaluate import plot_confusion
    from kws.streaming import DEPLOY_STRIDE_FRAMES, StreamingConfig

    logging.getLogger("kws").setLevel(logging.INFO)
    release = _trees(args.data, [args.lang])[args.lang]
    words = tuple(args.words) if args.words else tuple(closed_set_words(release, args.count))
    config = ClosedSetConfig(words=words, model=args.backbone, seed=args.seed)
    config = replace(config, fit=replace(config.fit, epochs=args.epochs))
    try:
        trained = train_closed_set(release, config, noise=make_noise_bank(seed=args.seed), cache_dir=Path(args.cache),
                                   jobs=args.jobs)
        tflite = to_int8_tflite(trained.model, trained.representative)
    except (DataError, ExportError) as error:
        raise UserError(str(error)) from None
    quant = accuracy_int8_vs_float(trained.model, tflite, trained.test_features, trained.test_labels)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_confusion(trained.test, out / "confusion.png", title="closed set, TEST speakers")
    report = {"test": trained.test, "int8": {"float_accuracy": quant.float_accuracy, "int8_accuracy": quant.int8_accuracy,
                                              "model_bytes": quant.model_bytes}, "history": trained.history,
              "seconds": trained.seconds}
    save_bundle(out, model=trained.model, tflite=tflite, streaming=StreamingConfig(labels=trained.labels,
                                                                                stride_frames=DEPLOY_STRIDE_FRAMES),
                report=report, config={"closed_set": to_jsonable(config), "data": str(release.root)},
                files={"files_train.tsv": ["id", *trained.train_ids]})
    print(f"wrote {out}: {len(words)} words, TEST accuracy {trained.test['accuracy']:.3f} (int8 "
          f"{quant.int8_accuracy:.3f}, {quant.model_bytes:,} bytes)")
    return 0


def _synth_stream_main(args: argparse.Namespace) -> int:
    from kws.data import DataError, make_noise_bank, open_tree
    from kws.streams import StreamConfig, make_stream, write_stream

    try:
        release = open_tree(args.data, args.lang)
    except DataError as error:
        raise UserError(str(error)) from None
    words = args.keywords or []
    missing = [w for w in words if w not in set(release.words())]
    if missing:
        raise UserError(f"not in {release.root}: {', '.join(missing)}")
    noise = make_noise_bank(seed=args.seed + 1)
    config = StreamConfig(duration_s=args.minutes * 60, seed=args.seed)
    stream = make_stream(release, words, noise, config, jobs=args.jobs)
    path = write_stream(stream, args.out)
    print(f"wrote {path} ({stream.duration_s / 60:.1f} min, {len(stream.occurrences)} keywords, "
          f"{stream.filler} as running speech) and {path}.truth.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("embedding", help="train a multilingual keyword embedding on MSWC-layout trees",
                       formatter_class=formatter,
                       description="Many-way word classifier over several languages; its penultimate layer is the "
                                   "embedding few-shot models reuse. Writes the model, its config and the exact "
                                   "file lists.\n\nexample:\n  python -m kws embedding --data data/mswc "
                                   "--langs en,es,de,sw --out models/embeddings/mine")
    p.add_argument("--data", required=True, help="MSWC root holding <lang>/ folders")
    p.add_argument("--langs", required=True, help="comma-separated languages")
    p.add_argument("--out", required=True)
    p.add_argument("--backbone", default="ds_cnn_s")
    p.add_argument("--dim", type=positive_int, default=128, help="embedding size (default 128)")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--exclude", nargs="*", help="words to keep out (word or lang/word)")
    p.add_argument("--cache", default="data/cache/kws")
    add_run_options(p, quiet=False)
    p.set_defaults(func=_embedding_main)

    p = sub.add_parser("closed-set", help="train a closed-set model (Speech Commands style) when words have many clips",
                       formatter_class=formatter,
                       description="silence + unknown + the words, trained from scratch on TRAIN speakers, tested on "
                                   "TEST speakers, exported to int8.\n\nexample:\n  python -m kws closed-set --data "
                                   "data/mswc --lang en --count 10 --out models/kws-en-closed")
    p.add_argument("--data", required=True, help="MSWC root or language folder")
    p.add_argument("--lang", required=True)
    p.add_argument("--words", nargs="*", help="target words (default: the --count most frequent)")
    p.add_argument("--count", type=positive_int, default=10)
    p.add_argument("--backbone", default="ds_cnn_s", help="architecture (default ds_cnn_s)")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--out", required=True)
    p.add_argument("--cache", default="data/cache/kws")
    add_run_options(p, quiet=False)
    p.set_defaults(func=_closed_set_main)

    p = sub.add_parser("synth-stream", help="write a noisy test stream with keywords spliced into running speech",
                       formatter_class=formatter,
                       description="Held-out keyword clips spliced into sentences of other words, with pauses, "
                                   "silence and noise; writes a WAV and <wav>.truth.json with every keyword's time."
                                   "\n\nexample:\n  python -m kws synth-stream --data data/demo/mswc --lang lg "
                                   "--keywords akawuka senyiga --minutes 2 --out stream.wav")
    p.add_argument("--data", required=True)
    p.add_argument("--lang", required=True)
    p.add_argument("--keywords", nargs="+", required=True)
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--out", required=True)
    add_run_options(p, quiet=False)
    p.set_defaults(func=_synth_stream_main)
