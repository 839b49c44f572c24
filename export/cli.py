"""`python -m export` subcommands: `quantize` (Keras model folder -> int8 .tflite, checked and evaluated),
`c-array` (.tflite -> C sources from templates), `arena` (tensor arena estimate), `inspect` (ops and types).

TensorFlow is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corpus.cli import UserError

__all__ = ["register"]


def _quiet() -> None:
    from corpus.configs import quiet_tensorflow

    quiet_tensorflow()


def _read(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such file")
    return p.read_bytes()


def _quantize_main(args: argparse.Namespace) -> int:
    _quiet()
    import numpy as np

    from corpus.fsutil import atomic_write_bytes
    from export.quantize import ExportError, accuracy_int8_vs_float, to_int8_tflite
    from kws.bundle import MODEL_KERAS, MODEL_TFLITE, BundleError, load_bundle

    try:
        bundle = load_bundle(args.model, need=(MODEL_KERAS,))
    except BundleError as error:
        raise UserError(str(error)) from None
    data = np.load(args.representative)
    if "features" not in data:
        raise UserError(f"{args.representative}: expected an .npz with 'features' (float [N, 49, 40]) and "
                        "optionally 'labels'")
    model = bundle.keras_model()
    try:
        tflite = to_int8_tflite(model, data["features"][: args.examples])
    except ExportError as error:
        raise UserError(str(error)) from None
    out = Path(args.out) if args.out else bundle.path / MODEL_TFLITE
    atomic_write_bytes(out, tflite)
    line = f"wrote {out} ({len(tflite):,} bytes, int8 builtin ops only)"
    if "labels" in data:
        report = accuracy_int8_vs_float(model, tflite, data["features"], data["labels"])
        line += (f"; accuracy float {report.float_accuracy:.4f}, int8 {report.int8_accuracy:.4f} "
                 f"(LiteRT reference kernels, {report.examples} examples)")
    print(line)
    return 0


def _c_array_main(args: argparse.Namespace) -> int:
    _quiet()
    from export.c_array import write_model_sources, write_settings_header
    from export.quantize import ExportError, LiteRtModel, check_int8

    tflite_path = Path(args.tflite)
    tflite = _read(args.tflite)
    try:
        check_int8(tflite)
    except ExportError as error:
        raise UserError(str(error)) from None
    paths = write_model_sources(tflite, args.out, symbol=args.symbol, source=tflite_path.name)
    streaming_path = Path(args.streaming) if args.streaming else tflite_path.parent / "streaming.json"
    if streaming_path.exists():
        from export.arena import estimate_arena
        from kws.streaming import load_streaming

        lite, arena = LiteRtModel(tflite), estimate_arena(tflite)
        paths.append(write_settings_header(
            args.out, streaming=load_streaming(streaming_path), input_scale=lite.input_scale,
            input_zero_point=lite.input_zero_point, output_scale=lite.output_scale,
            output_zero_point=lite.output_zero_point, arena_bytes=arena.arena_bytes,
            arena_note="estimate, see export/arena.py", source=tflite_path.name))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _arena_main(args: argparse.Namespace) -> int:
    from export.arena import estimate_arena

    print(json.dumps(estimate_arena(_read(args.tflite)).as_dict(), indent=1))
    return 0


def _inspect_main(args: argparse.Namespace) -> int:
    _quiet()
    from export.flatbuffer import read_tflite
    from export.quantize import ExportError, check_int8

    data = _read(args.tflite)
    info = read_tflite(data)
    for op in info.ops:
        types = ",".join(info.tensors[t].dtype for t in op.outputs)
        print(f"{op.index:3d} {op.name:24s} -> {types}")
    try:
        check_int8(data)
        print(f"{len(data):,} bytes; every op is a builtin computing in int8")
    except ExportError as error:
        print(f"{len(data):,} bytes; NOT deployable as is: {error}")
        return 1
    return 0


def _c_model_main(args: argparse.Namespace) -> int:
    _quiet()
    from export.c_build import BuildError, build_host
    from export.c_model import UnsupportedOpError, compile_model, read_streaming_params

    model = Path(args.model)
    tflite_path, streaming_path = model / "model_int8.tflite", model / "streaming.json"
    for path in (tflite_path, streaming_path):
        if not path.is_file():
            raise UserError(f"{model}: not a model folder, {path.name} is missing")
    try:
        compiled = compile_model(tflite_path.read_bytes(), read_streaming_params(streaming_path), args.out,
                                 source=str(tflite_path))
    except (UnsupportedOpError, ValueError) as error:
        raise UserError(f"{tflite_path}: {error}") from None
    line = (f"wrote {', '.join(str(p) for p in compiled.paths)}: {len(compiled.ops)} layers, activation buffer "
            f"{compiled.arena_bytes:,} bytes, weights {compiled.weight_bytes:,} bytes, {compiled.macs:,} MACs")
    if args.build:
        try:
            line += f"; built {build_host(args.out, 'kws_wav', Path(args.out) / 'kws_wav')}"
        except BuildError as error:
            raise UserError(str(error)) from None
    print(line)
    return 0


def _register_c_model(sub: argparse._SubParsersAction, formatter) -> None:
    p = sub.add_parser("c-model", help="compile a model folder's int8 .tflite to C for firmware/engine",
                       formatter_class=formatter,
                       description="Layer calls over const weights and one statically planned activation buffer "
                                   "(kws_model.c), model_settings.h (every front-end and streaming parameter) and "
                                   "the front end's tables (kws_frontend_tables.c); bit-exact with LiteRT's "
                                   "reference kernels. A model with an op the engine lacks is an error naming "
                                   "it.\n\nexample:\n  python -m export c-model --model models/kws-lg --out "
                                   "build/kws-lg --build\n  build/kws-lg/kws_wav models/kws-lg/example_stream.wav")
    p.add_argument("--model", required=True, help="model folder (model_int8.tflite, streaming.json)")
    p.add_argument("--out", required=True, help="folder for the generated C sources")
    p.add_argument("--build", action="store_true", help="also build the host program OUT/kws_wav with gcc")
    p.set_defaults(func=_c_model_main)


def register(sub: argparse._SubParsersAction) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    _register_c_model(sub, formatter)
    p = sub.add_parser("quantize", help="int8 post-training quantization of a model folder's Keras model",
                       formatter_class=formatter,
                       description="Full-integer int8 TFLite (int8 input/output, builtin ops only; a clear error "
                                   "names any op left in float), calibrated on real training features, evaluated "
                                   "in LiteRT with the reference kernels.\n\nexample:\n  python -m export quantize "
                                   "--model models/kws-lg --representative features.npz")
    p.add_argument("--model", required=True, help="model folder (model.keras, labels.txt, streaming.json)")
    p.add_argument("--representative", required=True,
                   help=".npz with 'features' (float [N, 49, 40] training features) and optional 'labels'")
    p.add_argument("--examples", type=int, default=400, help="calibration examples (default 400)")
    p.add_argument("--out", help="output .tflite (default <model>/model_int8.tflite)")
    p.set_defaults(func=_quantize_main)

    p = sub.add_parser("c-array", help="C sources (model_data.h/.cc, model_settings.h) from an int8 .tflite",
                       formatter_class=formatter,
                       description="Renders export/templates/*.in.\n\nexample:\n  python -m export c-array "
                                   "models/kws-lg/model_int8.tflite --out firmware/generated")
    p.add_argument("tflite")
    p.add_argument("--out", required=True)
    p.add_argument("--symbol", default="g_kws_model_data")
    p.add_argument("--streaming", help="streaming.json (default: beside the .tflite)")
    p.set_defaults(func=_c_array_main)

    p = sub.add_parser("arena", help="estimate the TFLite Micro tensor arena of a .tflite",
                       formatter_class=formatter,
                       description="Greedy memory plan of activations (TFLM's algorithm) plus estimated persistent "
                                   "allocations.\n\nexample:\n  python -m export arena models/kws-lg/model_int8.tflite")
    p.add_argument("tflite")
    p.set_defaults(func=_arena_main)

    p = sub.add_parser("inspect", help="list a .tflite's ops and check it is int8 builtin-only",
                       formatter_class=formatter,
                       description="example:\n  python -m export inspect models/kws-lg/model_int8.tflite")
    p.add_argument("tflite")
    p.set_defaults(func=_inspect_main)
