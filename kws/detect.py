"""`python -m kws detect --model DIR file.wav`: stream a recording through a keyword model and print what
it hears, with the model's own streaming parameters (streaming.json).

The file is read in blocks (any length; memory stays bounded), features come from the streaming front
end, every window is scored by the int8 model (or `--float`), and RecognizeCommands decides. Each
detection prints as `<seconds>  <keyword>  score <0..255>`; the time is when the detector fired (shortly
after the word).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from corpus.cli import UserError

__all__ = ["detect_file", "register", "AudioTooShort"]


class AudioTooShort(ValueError):
    """The file is shorter than one model window."""


def detect_file(model_dir: str | Path, path: str | Path, *, kind: str = "int8", threshold: int | None = None,
                block_s: float = 30.0, out=sys.stdout) -> list:
    from corpus.audio import audio_info, read_blocks
    from kws.bundle import load_bundle
    from kws.streaming import StreamingDetector

    model = load_bundle(model_dir, need=("model_int8.tflite",) if kind == "int8" else ("model.keras",))
    path = Path(path)
    info = audio_info(path)
    config = model.streaming if threshold is None else replace(model.streaming, detection_threshold=int(threshold))
    if info.duration_s < config.frontend.clip_ms / 1000:
        raise AudioTooShort(f"{path}: {info.duration_s:.2f} s of audio is too short; the model listens to "
                        f"{config.frontend.clip_ms / 1000:g} s windows")
    detector = StreamingDetector(model.scorer(kind), config)
    detections = []
    for _, block in read_blocks(path, block_s=block_s, sample_rate_hz=config.frontend.sample_rate_hz):
        for found in detector.push_audio(block):
            detections.append(found)
            print(f"{found.time_ms / 1000:9.2f} s  {found.label}  score {found.score}", file=out, flush=True)
    print(f"{len(detections)} detection(s) in {info.duration_s:.1f} s of audio "
          f"(threshold {config.detection_threshold}, {kind} model {model.path})", file=out)
    return detections


def _main(args: argparse.Namespace) -> int:
    from corpus.configs import quiet_tensorflow

    from corpus.audio import AudioError
    from kws.bundle import BundleError

    quiet_tensorflow()
    for path in args.files:
        if len(args.files) > 1:
            print(f"== {path}")
        try:
            detect_file(args.model, path, kind="float" if args.float else "int8", threshold=args.threshold)
        except (BundleError, AudioError, AudioTooShort) as error:
            raise UserError(str(error)) from None
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("detect", help="print the keywords a model hears in audio files",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description=__doc__ + "\nexample:\n  python -m kws detect --model models/kws-lg "
                                                  "models/kws-lg/example_stream.wav")
    parser.add_argument("--model", required=True, help="model folder written by `python -m kws train`")
    parser.add_argument("files", nargs="+", help="audio files (WAV, FLAC, MP3, Ogg, Opus; any rate, any length)")
    parser.add_argument("--threshold", type=int, default=None, help="override the detection threshold (0..255)")
    parser.add_argument("--float", action="store_true", help="use the float Keras model instead of the int8 one")
    parser.set_defaults(func=_main)
