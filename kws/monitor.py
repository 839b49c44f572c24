"""`python -m kws monitor --port PORT [--truth stream.wav]`: what a wake-word device hears, over its serial port.

Connects to the board (e.g. /dev/ttyACM0), or to the host simulator's pseudo-terminal (`firmware/host/kws_sim`
prints `pty /dev/pts/N`), sends `version` (and any `--send` commands), then prints every line the device
writes with the host's time, logs them (`--log`), and parses detections, one line each:

    <t_ms> <keyword> <score>      t_ms: the device's clock (ms of audio since it started), score 0..255

Other lines are answers (`version ...`, `stats ...`, `threshold N`, `error ...`), `ready ...` after a reset,
and `end audio_ms=N` when a simulator's file ends (then the monitor stops; a board never sends it: stop
with Ctrl-C or `--seconds`). With `--truth` (a stream written by `python -m kws synth-stream`: the WAV or
its `.truth.json`) it scores what the device heard as `python -m kws` scores the Python evaluation: FRR
and false accepts per hour of negative audio (kws.evaluate.match_detections); `--offset-ms` is the
device time at which the stream started playing.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from corpus.cli import UserError

__all__ = ["DETECTION_LINE", "MonitorResult", "parse_detection", "monitor", "read_truth", "score_detections",
           "python_detections", "register"]

DETECTION_LINE = re.compile(r"^(\d+) (\S+) (\d+)$")


@dataclass
class MonitorResult:
    lines: list[str] = field(default_factory=list)
    detections: list = field(default_factory=list)  # kws.streaming.Detection
    ended: bool = False                              # the device said "end" (a simulator's file ended)


def parse_detection(line: str):
    from kws.streaming import Detection

    match = DETECTION_LINE.match(line.strip())
    if not match:
        return None
    return Detection(match.group(2), int(match.group(1)), int(match.group(3)))


def _open(port: str, baud: int):
    import serial

    try:
        return serial.Serial(port, baudrate=baud, timeout=0.05)
    except (serial.SerialException, OSError, ValueError) as error:
        raise UserError(f"cannot open serial port {port}: {error}") from None


def monitor(port: str, *, send: tuple[str, ...] = ("version",), seconds: float | None = None, baud: int = 115200,
            log: str | Path | None = None, out=sys.stdout, quiet: bool = False) -> MonitorResult:
    """Read lines until the device says `end`, `seconds` pass, or Ctrl-C; return them and the detections."""
    connection = _open(port, baud)
    result = MonitorResult()
    log_file = open(log, "a", encoding="utf-8") if log else None
    start = time.monotonic()
    pending = b""
    try:
        for command in send:
            connection.write(command.encode("ascii", "replace") + b"\n")
        connection.flush()
        while seconds is None or time.monotonic() - start < seconds:
            chunk = connection.read(4096)
            if not chunk:
                continue
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                host_s = time.monotonic() - start
                result.lines.append(line)
                detection = parse_detection(line)
                if detection is not None:
                    result.detections.append(detection)
                if not quiet:
                    print(f"{host_s:9.3f}  {line}", file=out, flush=True)
                if log_file:
                    log_file.write(f"{time.time():.3f}\t{line}\n")
                    log_file.flush()
                if line.startswith("end audio_ms="):
                    result.ended = True
                    return result
    except KeyboardInterrupt:
        pass
    finally:
        connection.close()
        if log_file:
            log_file.close()
    return result


def read_truth(path: str | Path):
    """(occurrences, duration_s) from a stream's truth file (or its WAV beside it)."""
    from corpus.configs import read_json
    from kws.evaluate import Occurrence

    path = Path(path)
    if path.suffix.lower() != ".json":
        path = path.with_suffix(path.suffix + ".truth.json")
    if not path.is_file():
        raise UserError(f"{path}: no truth file (python -m kws synth-stream writes <stream>.wav.truth.json)")
    try:
        truth = read_json(path)
        occurrences = [Occurrence(label=o["label"], start_ms=int(o["start_ms"]), end_ms=int(o["end_ms"]))
                       for o in truth["occurrences"]]
        return occurrences, float(truth["duration_s"])
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{path}: not a stream truth file ({error})") from None


def score_detections(detections, occurrences, duration_s: float, *, offset_ms: int = 0):
    """kws.evaluate.MatchResult of device detections (device times minus offset_ms) against the truth."""
    from dataclasses import replace

    from kws.evaluate import match_detections

    shifted = [replace(d, time_ms=d.time_ms - offset_ms) for d in detections]
    labels = sorted({o.label for o in occurrences} | {d.label for d in shifted})
    return match_detections(shifted, occurrences, duration_s, labels=labels)


def python_detections(model_dir: str | Path, wav: str | Path, *, reference: bool = True) -> list:
    """What the Python side finds in a file, as `python -m kws detect` does; with `reference` the int8 model
    runs on LiteRT's reference kernels (the C engine is bit-exact with those; the default optimized kernels
    can differ by one in a score now and then)."""
    from corpus.audio import read_blocks
    from kws.bundle import load_bundle
    from kws.streaming import StreamingDetector

    model = load_bundle(model_dir)
    detector = StreamingDetector(model.scorer("int8", reference=reference), model.streaming)
    found = []
    for _, block in read_blocks(wav, block_s=30.0, sample_rate_hz=model.streaming.frontend.sample_rate_hz):
        found.extend(detector.push_audio(block))
    return found


def _main(args: argparse.Namespace) -> int:
    truth = read_truth(args.truth) if args.truth else None
    result = monitor(args.port, send=("version", *(args.send or ())), seconds=args.seconds, baud=args.baud,
                     log=args.log, quiet=args.quiet)
    line = f"{len(result.detections)} detection(s) from {args.port}"
    if truth is not None:
        occurrences, duration_s = truth
        match = score_detections(result.detections, occurrences, duration_s, offset_ms=args.offset_ms)
        line += (f"; against {args.truth}: FRR {match.frr:.3f} ({match.false_rejects} of {match.occurrences} "
                 f"missed), {match.fa_per_hour:.2f} false accepts per hour ({match.false_accepts} in "
                 f"{match.negative_hours:.3f} h of negative audio)")
    print(line)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="print, log and score the detections a wake-word device sends over serial",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=__doc__ + "\nexamples:\n  python -m kws monitor --port /dev/ttyACM0 --send "
                                             "'threshold 180' stats\n  python -m kws monitor --port /dev/pts/7 "
                                             "--truth stream.wav")
    p.add_argument("--port", required=True, help="serial device (/dev/ttyACM0, COM3, a simulator's /dev/pts/N)")
    p.add_argument("--truth", help="stream WAV or its .truth.json: score FRR and false accepts per hour")
    p.add_argument("--offset-ms", type=int, default=0, help="device time when the stream started (default 0)")
    p.add_argument("--send", nargs="*", help="commands to send after `version`, e.g. 'threshold 180' stats")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until `end`/Ctrl-C)")
    p.add_argument("--log", help="append every line with the host's Unix time to this file")
    p.add_argument("--baud", type=int, default=115200, help="baud rate (USB serial ignores it)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=_main)
