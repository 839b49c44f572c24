"""`python -m kws train`: the pipeline behind `make train-kws LANG=lg [KEYWORDS="w1 w2"] [SHOTS=5] [DATA=dir]`.

1. Data for the target language: `--data` (an MSWC-layout folder, or a Common Voice language folder that
   the MSWC builder `corpus.mswc` turns into one), else `data/mswc/<lang>/` when present, else the
   synthetic demo corpus `data/demo/mswc/<lang>/` (espeak-ng speech, built once and reused; the summary
   says plainly that the data is synthetic).
2. The multilingual embedding: trained on the embedding languages' trees (`--embedding-data`, else
   `data/mswc/<l>/`, else synthetic demo trees), cached under `models/embeddings/<backbone>-<key>/` where
   the key covers the config and the exact clip list, and reused on the next run.
3. A K-shot model for the keywords (default for lg: akawuka, senyiga, okugema; otherwise the language's
   demo keywords or its most frequent words), with the shots from TRAIN speakers.
4. Evaluation on held-out speakers: accuracy, per-class F1, confusion matrix on DEV+TEST clips; a noisy
   DEV-speaker stream to choose the operating threshold (lowest FRR at <= `target_fa_per_hour`), and a
   TEST-speaker stream for the FRR / FA-per-hour figures at that threshold.
5. int8 export (LiteRT reference check, float vs int8 accuracy), arena estimate, C sources, and
   everything written to `models/kws-<lang>/` (see kws.bundle), then a summary.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np

from corpus.cli import UserError, add_run_options, positive_int
from corpus.configs import determinism_note, to_jsonable
from kws.data import DataError
from kws.embedding import EmbeddingConfig
from kws.train_config import EMBEDDING_LANGUAGES, TrainConfig, TrainError
from kws.train_data import default_keywords, resolve_embedding_trees, resolve_target
from kws.train_summary import print_summary

__all__ = ["run_train", "register"]

log = logging.getLogger(__name__)


def run_train(config: TrainConfig, *, out: str | Path | None = None, data_root: str | Path = "data",
              models_root: str | Path = "models", jobs: int | None = None, verbose: bool = True,
              say: Callable[[str], None] = print) -> dict:
    """Run the whole pipeline; returns the report (also written to <out>/report.json)."""
    from export.arena import estimate_arena
    from export.quantize import ExportError, LiteRtModel, accuracy_int8_vs_float, to_int8_tflite
    from kws import bundle
    from kws.data import make_noise_bank
    from kws.embedding import Embedding, embedding_key, embedding_noise_bank, train_embedding
    from kws.evaluate import choose_threshold, frr_by_label, frr_fa_curve, plot_confusion, plot_curve, plot_f1
    from kws.fewshot import (REAL_UNKNOWN_SHARE, FewShotConfig, check_keywords, choose_shots, evaluate_model,
                             evaluation_set, train_fewshot)
    from kws.models import describe
    from kws.real_check import real_check, resolve_real_source
    from kws.streaming import DEPLOY_STRIDE_FRAMES, StreamingConfig
    from kws.streams import StreamConfig, make_stream, running_speech, write_stream

    started = time.perf_counter()
    stages: dict[str, float] = {}
    data_root, models_root = Path(data_root), Path(models_root)
    if not config.language or not config.language.replace("-", "").isalnum():
        raise TrainError(f"language code {config.language!r} is not valid (e.g. lg, en, sw)")
    out = Path(out) if out is not None else models_root / f"kws-{config.language}"
    cache_dir = data_root / "cache" / "kws"

    mark = time.perf_counter()
    target = resolve_target(config, data_root, jobs=jobs, say=say)
    release = target.release

    # keywords
    keywords = tuple(config.keywords)
    if not keywords:
        keywords = default_keywords(release, set())
        if not keywords:
            raise TrainError(f"{release.root}: no words to choose default keywords from")
    try:
        check_keywords(release, keywords)
        for keyword in keywords:  # before any training: every keyword needs K TRAIN clips
            choose_shots(release, keyword, config.shots, seed=config.seed)
    except DataError as error:
        raise TrainError(str(error)) from None
    trees, embedding_synthetic = resolve_embedding_trees(config, data_root, jobs=jobs, say=say)
    try:
        real_source = resolve_real_source(config.real_check)
    except DataError as error:
        raise TrainError(str(error)) from None
    stages["data_s"] = time.perf_counter() - mark
    # keywords of a language the embedding trains on must stay unseen by it (only then: the excluded words
    # are part of the embedding's cache key)
    unseen = {f"{config.language}/{k}" for k in keywords} if config.language in trees else set()
    embedding_config = replace(config.embedding, seed=config.seed,
                               exclude_words=tuple(sorted({*config.embedding.exclude_words, *unseen})))
    say(f"keywords ({config.language}): {', '.join(keywords)}; {config.shots} shots each from TRAIN speakers")

    # embedding (cached)
    mark = time.perf_counter()
    backgrounds = [release.root, *(t.root for t in trees.values())]
    try:
        key = embedding_key(trees, embedding_config)
    except DataError as error:
        raise TrainError(f"embedding data: {error}") from None
    embedding_dir = models_root / "embeddings" / f"{embedding_config.backbone}-{key}"
    if (embedding_dir / "report.json").exists():
        embedding = Embedding.load(embedding_dir)
        embedding_origin = f"reused from {embedding_dir}"
        say(f"embedding: {embedding_origin}")
    else:
        say(f"training the embedding ({describe(embedding_config.model_config())}) on "
            f"{', '.join(sorted(trees))} -> {embedding_dir} ...")
        embedding_noise = embedding_noise_bank(seed=config.seed, babble_languages=config.embedding_languages[:1],
                                               background_dirs=backgrounds)
        embedding = train_embedding(trees, embedding_config, embedding_dir, noise=embedding_noise, cache_dir=cache_dir,
                                    jobs=jobs, verbose=verbose)
        embedding_origin = f"trained into {embedding_dir}"
    stages["embedding_s"] = time.perf_counter() - mark
    seen = [k for k in keywords if f"{config.language}/{k}" in embedding.words]
    if seen:
        say(f"note: {', '.join(seen)} were embedding training words; results will be optimistic")

    # few-shot model
    mark = time.perf_counter()
    noise = make_noise_bank(seed=config.seed, babble_languages=config.embedding_languages[:1],
                            background_dirs=backgrounds)
    # real recordings: most unknown examples from their own other words (kws.fewshot.target_unknown_share)
    fewshot_config = FewShotConfig(keywords=keywords, shots=config.shots, seed=config.seed,
                                   fine_tune_layers=config.fine_tune_layers,
                                   augmentations_per_shot=config.augmentations_per_shot,
                                   target_unknown_share=None if target.synthetic else REAL_UNKNOWN_SHARE)
    fewshot_config = replace(fewshot_config, fine_tune=replace(fewshot_config.fine_tune,
                                                               epochs=config.fine_tune_epochs))
    negatives = None
    if config.negative_speech_s > 0:
        negatives = running_speech(release, keywords, config.negative_speech_s, seed=config.seed, jobs=jobs)
    from kws.synthetic_shots import keyword_renditions

    synthetic, synthetic_note = keyword_renditions(keywords, config.language, config.synthetic_shots,
                                                   seed=config.seed, pronounce=dict(config.pronounce),
                                                   cache_dir=data_root / "cache" / "voices")
    say(synthetic_note)
    try:
        trained = train_fewshot(embedding.encoder, release, fewshot_config, synthetic_audio=synthetic,
                                unknown_trees=[t for l, t in sorted(trees.items()) if l != release.language],
                                noise=noise, cache_dir=cache_dir, jobs=jobs, verbose=verbose,
                                negative_audio=negatives)
    except DataError as error:
        raise TrainError(str(error)) from None
    model, labels = trained.model, trained.labels
    stages["fewshot_s"] = time.perf_counter() - mark

    # held-out clips
    mark = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    eval_x, eval_y, eval_ids = evaluation_set(release, keywords, noise, cache_dir=cache_dir, jobs=jobs,
                                              seed=config.seed)
    if not np.any(eval_y >= 2):
        raise TrainError(f"{release.root}: no DEV/TEST clips of {', '.join(keywords)} to evaluate on held-out speakers")
    metrics = evaluate_model(model, eval_x, eval_y, labels)
    plot_confusion(metrics, out / "confusion.png", title=f"{config.language} keywords, held-out speakers")
    plot_f1(metrics, out / "f1.png")
    stages["evaluate_s"] = time.perf_counter() - mark

    # int8 export
    mark = time.perf_counter()
    try:
        tflite = to_int8_tflite(model, trained.representative)
    except ExportError as error:
        raise TrainError(f"int8 export failed: {error}") from None
    quant = accuracy_int8_vs_float(model, tflite, eval_x, eval_y)
    arena = estimate_arena(tflite)
    stages["export_s"] = time.perf_counter() - mark

    # streams: DEV speakers choose the threshold, TEST speakers report
    mark = time.perf_counter()
    streaming = StreamingConfig(labels=labels, stride_frames=DEPLOY_STRIDE_FRAMES)
    lite = LiteRtModel(tflite, reference=False)
    stream_noise = make_noise_bank(seed=config.seed + 101, babble_languages=config.embedding_languages[1:2])
    stream_results = {}
    for split, seed in (("DEV", config.seed + 201), ("TEST", config.seed + 202)):
        stream = make_stream(release, keywords, stream_noise,
                             StreamConfig(duration_s=config.stream_minutes * 60, seed=seed), jobs=jobs, sets=(split,))
        scores, times = _stream_scores(lite, stream.audio, streaming)
        curve = frr_fa_curve(scores, times, stream.occurrences, stream.duration_s, streaming)
        stream_results[split] = (stream, curve, scores, times)
    dev_stream, dev_curve, _, _ = stream_results["DEV"]
    chosen, met = choose_threshold(dev_curve, config.target_fa_per_hour)
    streaming = replace(streaming, detection_threshold=chosen.threshold)
    test_stream, test_curve, test_scores, test_times = stream_results["TEST"]
    at_threshold = next(p for p in test_curve if p.threshold == chosen.threshold)
    test_by_keyword = frr_by_label(test_scores, test_times, test_stream.occurrences, streaming,
                                   threshold=chosen.threshold)
    test_best, test_met = choose_threshold(test_curve, 1.0)
    plot_curve(test_curve, at_threshold, out / "frr_fa.png", target_fa_per_hour=config.target_fa_per_hour,
               title=f"{config.language} TEST-speaker stream ({test_stream.duration_s / 60:.0f} min, noisy)")
    example = out / "example_stream.wav"
    first_minute = replace(test_stream, audio=test_stream.audio[:60 * 16000],
                           occurrences=[o for o in test_stream.occurrences if o.end_ms < 60000])
    write_stream(first_minute, example)
    stages["streams_s"] = time.perf_counter() - mark

    # real voices, apart from everything above (kws.real_check)
    real = None
    if real_source is not None:
        mark = time.perf_counter()
        say(f"real-speech check: REAL recordings from {real_source.path} ...")
        try:
            real = real_check(embedding.encoder, real_source, list(trees.values()), noise, shots=config.shots,
                              work=data_root / "cache" / "real_check", seed=config.seed, cache_dir=cache_dir, jobs=jobs)
        except DataError as error:
            raise TrainError(f"real-speech check: {error}") from None
        stages["real_check_s"] = time.perf_counter() - mark

    stages["total_s"] = time.perf_counter() - started
    synthetic = target.synthetic or embedding_synthetic
    report = {
        "language": config.language, "keywords": list(keywords), "labels": list(labels), "shots": config.shots,
        "synthetic_shots": synthetic_note,
        "data": {"target": str(release.root), "origin": target.origin, "synthetic": target.synthetic,
                 "embedding_synthetic": embedding_synthetic, "embedding_trees": {l: str(t.root) for l, t in trees.items()}},
        "embedding": {"path": str(embedding.path), "origin": embedding_origin, **{
            k: embedding.report.get(k) for k in ("model", "languages", "words", "dev_accuracy", "parameters",
                                                 "voice_families")}},
        "heldout_clips": metrics,
        "real_speech": real,
        "int8": {**asdict(quant), "accuracy_drop_points": round(quant.accuracy_drop_points, 3),
                 "arena": arena.as_dict(), "resolver": "LiteRT BUILTIN_REF (reference kernels)"},
        "streaming": {
            "config": to_jsonable(streaming), "threshold_chosen_on": "DEV-speaker stream",
            "target_fa_per_hour": config.target_fa_per_hour, "target_met_on_dev": met,
            "dev": {"minutes": round(dev_stream.duration_s / 60, 2), "occurrences": len(dev_stream.occurrences),
                    "at_threshold": asdict(chosen)},
            "test": {"minutes": round(test_stream.duration_s / 60, 2), "occurrences": len(test_stream.occurrences),
                     "at_threshold": asdict(at_threshold), "frr_by_keyword": test_by_keyword,
                     "frr_at_1_fa_per_hour": test_best.frr,
                     "curve": [asdict(p) for p in test_curve]},
            "scored_with": "int8 model in LiteRT (default kernels), whole-stream front end",
        },
        "seconds": {k: round(v, 1) for k, v in stages.items()},
        "determinism": determinism_note(),
        "config": to_jsonable(config),
    }
    bundle.save_bundle(out, model=model, tflite=tflite, streaming=streaming, report=report, config={
        "train": config, "fewshot": fewshot_config, "embedding": embedding_config, "frontend": streaming.frontend,
        "embedding_path": str(embedding.path)}, files={
        "files_shots.tsv": ["keyword\tid", *(f"{k}\t{i}" for k, ids in trained.shots.items() for i in ids)],
        "files_unknown.tsv": ["id", *trained.unknown_ids],
        "files_eval.tsv": ["id\tlabel", *(f"{i}\t{labels[y]}" for i, y in zip(eval_ids, eval_y))]})
    print_summary(report, out, synthetic, say)
    return report


def _stream_scores(lite, audio: np.ndarray, streaming) -> tuple[np.ndarray, np.ndarray]:
    from kws.features import features_int8
    from kws.streaming import sliding_windows

    q = features_int8(audio, streaming.frontend)
    windows, ends = sliding_windows(q, streaming)
    return lite.scores(windows), streaming.window_time_ms(ends)


def _main(args: argparse.Namespace) -> int:
    logging.getLogger("kws").setLevel(logging.INFO)
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()
    embedding = EmbeddingConfig(backbone=args.backbone)
    if args.embedding_epochs:
        embedding = replace(embedding, fit=replace(embedding.fit, epochs=args.embedding_epochs))
    keywords = tuple(w for item in (args.keywords or []) for w in item.split())
    config = TrainConfig(language=args.lang.strip(), keywords=keywords, shots=args.shots, data=args.data,
                         embedding_data=args.embedding_data, seed=args.seed, fine_tune_layers=args.fine_tune,
                         stream_minutes=args.stream_minutes, embedding=embedding,
                         fine_tune_epochs=args.fine_tune_epochs,
                         embedding_languages=tuple(args.embedding_langs.split(",")),
                         synthetic_shots=args.synthetic_shots, pronounce=_pronunciations(args.pronounce, keywords),
                         real_check=args.real_check)
    try:
        run_train(config, out=args.out, data_root=args.data_root, models_root=args.models_root, jobs=args.jobs)
    except TrainError as error:
        raise UserError(str(error)) from None
    return 0


def _pronunciations(items: list[str] | None, keywords: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """--pronounce items: "keyword=text to synthesize", or just the text when there is one keyword."""
    out = []
    for item in items or []:
        if "=" in item:
            word, text = (part.strip() for part in item.split("=", 1))
        elif len(keywords) == 1:
            word, text = keywords[0], item.strip()
        else:
            raise UserError(f"--pronounce {item!r}: with several keywords write KEYWORD=TEXT")
        if keywords and word not in keywords:
            raise UserError(f"--pronounce {item!r}: {word!r} is not one of the keywords ({', '.join(keywords)})")
        if not text:
            raise UserError(f"--pronounce {item!r}: empty text")
        out.append((word, text))
    return tuple(out)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train", help="K-shot keyword model for a language (the pipeline behind `make train-kws`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__ + "\nexamples:\n  python -m kws train --lang lg\n"
                              "  python -m kws train --lang lg --keywords akawuka masiki --shots 5 --data data/mswc/lg")
    parser.add_argument("--lang", required=True, help="target language code (e.g. lg)")
    parser.add_argument("--keywords", nargs="+", help="keywords (default for lg: akawuka senyiga okugema)")
    parser.add_argument("--shots", type=positive_int, default=5, help="examples per keyword (default 5)")
    parser.add_argument("--data", help="MSWC-layout folder or Common Voice language folder for the target language")
    parser.add_argument("--embedding-data", help="MSWC root with <lang>/ folders for the embedding languages")
    parser.add_argument("--embedding-langs", default=",".join(EMBEDDING_LANGUAGES),
                        help=f"embedding languages (default {','.join(EMBEDDING_LANGUAGES)})")
    parser.add_argument("--backbone", default="ds_cnn_s",
                        help="embedding backbone: ds_cnn_s (deployable, default), ds_cnn_m, ds_cnn_l, efficientnet_b0, "
                             "tiny_conv")
    parser.add_argument("--embedding-epochs", type=positive_int, default=None, help="override embedding epochs")
    parser.add_argument("--fine-tune", type=int, default=-1, metavar="N",
                        help="fine-tune the embedding with the shots: -1 every layer (default), N the last N weight "
                             "layers, 0 none (frozen embedding, only the head trains, as in the paper)")
    parser.add_argument("--fine-tune-epochs", type=positive_int, default=10, help="fine-tuning epochs (default 10)")
    parser.add_argument("--synthetic-shots", type=int, default=40, metavar="N",
                        help="renditions of each keyword by synthetic speakers of every synthesizer family serving "
                             "the language, added to the K given shots (default 40; 0 = pure K-shot)")
    parser.add_argument("--pronounce", nargs="+", metavar="KEYWORD=TEXT",
                        help="how the synthesizers should say a keyword (its spelling otherwise), e.g. "
                             "--pronounce \"okugema=o ku ge ma\"")
    parser.add_argument("--real-check", default="auto", metavar="DIR|auto|none",
                        help="also measure the embedding on REAL recordings: a real_speech folder (MANIFEST.tsv + "
                             "keywords/) or an MSWC-layout language folder; auto (default): ../shared/real_speech "
                             "when present; none: skip")
    parser.add_argument("--stream-minutes", type=float, default=15.0, help="minutes of each evaluation stream")
    parser.add_argument("--out", help="model folder (default models/kws-<lang>)")
    parser.add_argument("--data-root", default="data", help="where corpora and caches live (default data)")
    parser.add_argument("--models-root", default="models", help="where models live (default models)")
    add_run_options(parser, quiet=False)
    parser.set_defaults(func=_main)
