"""The espeak-ng synthesis server behind `corpus.synth` (run as `python -m corpus.espeak_zygote VOICE`).

Why a separate process that forks per utterance: espeak-ng carries state from one utterance to the
next (glottal phase, pitch-flutter phase, formant interpolation, breath-noise generator), so the same
text spoken twice in one process comes out a few samples different, and no API call resets it. This
process initializes espeak once, loads the language voice, and never synthesizes itself: each request
is served by a forked child that starts from that same pristine state, so an utterance is a pure
function of (text, voice, settings). It also keeps a crash inside espeak away from the caller.

It imports nothing but the standard library and the espeak-ng wheel, so starting and forking it is cheap.

Protocol on stdin/stdout, all integers little-endian uint32:
  request:  length + UTF-8 JSON {"variant", "rate", "pitch", "range", "volume", "text"}
  response: length + UTF-8 JSON {"sample_rate_hz", "num_samples", "events": [[type, text_position,
            length, sample, name], ...], "error"} then num_samples int16 samples.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import sys

import espeakng_loader

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesis in the calling thread: no background thread to lose on fork
_INIT_PHONEME_EVENTS = 1
_CHARS_UTF8 = 1
_PARAMS = (("rate", 1), ("volume", 2), ("pitch", 3), ("range", 4))


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


def _read_exact(stream, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve_one(lib, voice: str, request: dict, out) -> None:
    """Runs in the forked child: speak one request and write the response."""
    chunks: list[bytes] = []
    events: list[list] = []

    def on_audio(wav, count, event_array):
        if count > 0:
            chunks.append(ctypes.string_at(wav, 2 * count))
        index = 0
        while event_array[index].type != 0:
            e = event_array[index]
            events.append([e.type, e.text_position, e.length, e.sample, bytes(e.id).decode("latin-1")])
            index += 1
        return 0

    callback = _Callback(on_audio)
    lib.espeak_SetSynthCallback(callback)
    header: dict = {"sample_rate_hz": lib.sample_rate_hz}
    name = f"{voice}+{request['variant']}" if request.get("variant") else voice
    if lib.espeak_SetVoiceByName(name.encode()) != 0:
        header["error"] = f"espeak-ng has no voice {name!r}"
    else:
        for key, parameter in _PARAMS:
            lib.espeak_SetParameter(parameter, int(request[key]), 0)
        data = request["text"].encode("utf-8")
        status = lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0:
            header["error"] = f"espeak_Synth failed with status {status}"
    audio = b"".join(chunks)
    header.update(num_samples=len(audio) // 2, events=events)
    payload = json.dumps(header).encode()
    out.write(struct.pack("<I", len(payload)) + payload + audio)
    out.flush()


def main(voice: str) -> int:
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                 _INIT_PHONEME_EVENTS)
    if rate <= 0:
        print("espeak-ng failed to initialise", file=sys.stderr)
        return 1
    lib.sample_rate_hz = rate
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:  # load the dictionary once, before any fork
        print(f"espeak-ng has no voice {voice!r}", file=sys.stderr)
        return 1
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            size = struct.unpack("<I", _read_exact(source, 4))[0]
            request = json.loads(_read_exact(source, size))
        except EOFError:
            return 0
        pid = os.fork()
        if pid == 0:
            try:
                _serve_one(lib, voice, request, sink)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status != 0:  # the child died inside espeak: answer for it so the caller is not left waiting
            payload = json.dumps({"error": f"synthesis process died (status {status})", "num_samples": 0,
                                  "events": [], "sample_rate_hz": rate}).encode()
            sink.write(struct.pack("<I", len(payload)) + payload)
            sink.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
