"""The micro-frontend's tables, computed on the host exactly as TensorFlow's `audio_microfrontend` op
computes them at run time, for the C front end (`firmware/engine/frontend.c`).

The op builds its tables in C with a mix of float and double arithmetic (float32 variables, double
`cos`/`log1p`, float `powf`); each step below keeps the same types (numpy float32 for a C float, Python
floats and `math` for a double, libm's own `powf` through ctypes), so the tables are the op's, bit for bit.
Computing them here, not on the device, also keeps compilers out of it: arm-gcc at -O2 fuses
multiply-adds, which changes some entries, and TFLM's copy of the front end uses float `cos`/`log1p`,
which changes loud-audio features. The test of the C front end against the op checks all of this.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from dataclasses import dataclass

import numpy as np

from export.frontend import FrontendConfig

__all__ = ["FrontendTables", "frontend_tables"]

WINDOW_BITS = 12
FILTERBANK_BITS = 12
NOISE_REDUCTION_BITS = 14
PCAN_SNR_BITS = 12
WIDE_DYNAMIC_FUNCTION_BITS = 32
PCAN_LUT_SIZE = 4 * WIDE_DYNAMIC_FUNCTION_BITS - 3
LOG_SEGMENTS_LOG2 = 7
LOG_SCALE_LOG2 = 16
SAMP_MAX = 32767  # kiss_fft int16
PI = 3.141592653589793238462643383279502884197169399375105820974944
PI_SUPER = 3.14159265358979323846264338327

f32 = np.float32


def _libm_powf():
    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    powf = libm.powf
    powf.argtypes, powf.restype = [ctypes.c_float, ctypes.c_float], ctypes.c_float
    return powf


@dataclass(frozen=True)
class FrontendTables:
    window_samples: int
    stride_samples: int
    fft_size: int
    window: np.ndarray  # int16 [window_samples]
    twiddles: np.ndarray  # int16 [fft_size/2, 2]
    super_twiddles: np.ndarray  # int16 [fft_size/4, 2]
    fft_factors: np.ndarray  # int16 [pairs, 2]: (radix, remaining length)
    channel_starts: np.ndarray  # int16 [channels + 1]
    channel_widths: np.ndarray  # int16 [channels + 1]
    weights: np.ndarray  # int16 [sum of widths]
    unweights: np.ndarray
    pcan_gain_lut: np.ndarray  # int16 [PCAN_LUT_SIZE]
    log_lut: np.ndarray  # uint16 [2^LOG_SEGMENTS_LOG2 + 2]
    even_smoothing_q14: int
    odd_smoothing_q14: int
    min_signal_remaining_q14: int
    correction_bits: int  # log-scale input correction (= PCAN input correction)
    pcan_snr_shift: int
    filterbank_start_index: int
    filterbank_end_index: int


def _window(size: int) -> np.ndarray:
    arg = f32(PI * 2.0 / float(f32(size)))  # double expression stored in a float
    out = np.empty(size, np.int16)
    for i in range(size):
        value = f32(0.5 - 0.5 * math.cos(float(arg) * (i + 0.5)))
        out[i] = math.floor(float(f32(value * f32(1 << WINDOW_BITS))) + 0.5)
    return out


def _cexp(phase: float) -> tuple[int, int]:
    return math.floor(0.5 + SAMP_MAX * math.cos(phase)), math.floor(0.5 + SAMP_MAX * math.sin(phase))


def _fft_factors(n: int) -> list[tuple[int, int]]:
    """kiss_fft's factorisation order: 4s first, then 2, then odd primes."""
    p, floor_sqrt, factors = 4, math.floor(math.sqrt(n)), []
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        factors.append((p, n))
        if n <= 1:
            return factors


def _mel(freq) -> np.float32:
    return f32(1127.0 * math.log1p(float(freq) / 700.0))


def _filterbank(config: FrontendConfig, spectrum_size: int):
    channels_plus_1 = config.channels + 1
    lower, upper = f32(config.lower_band_limit_hz), f32(config.upper_band_limit_hz)
    mel_low, mel_high = _mel(lower), _mel(upper)
    spacing = f32(f32(mel_high - mel_low) / f32(channels_plus_1))
    centers = [f32(mel_low + f32(spacing * f32(i + 1))) for i in range(channels_plus_1)]
    hz_per_bin = f32(0.5 * config.sample_rate_hz / float(f32(f32(spectrum_size) - f32(1))))
    start_index = int(1.5 + float(f32(lower / hz_per_bin)))
    starts, widths = [], []
    freq_start = start_index
    for chan in range(channels_plus_1):
        freq = freq_start
        while _mel(f32(f32(freq) * hz_per_bin)) <= centers[chan]:
            freq += 1
        starts.append(freq_start)
        widths.append(freq - freq_start)
        freq_start = freq
    weights, unweights, end_index = [], [], 0
    for chan in range(channels_plus_1):
        denominator = mel_low if chan == 0 else centers[chan - 1]
        for j in range(widths[chan]):
            frequency = starts[chan] + j
            weight = f32(f32(centers[chan] - _mel(f32(f32(frequency) * hz_per_bin))) / f32(centers[chan] - denominator))
            weights.append(math.floor(float(f32(weight * f32(1 << FILTERBANK_BITS))) + 0.5))
            unweights.append(math.floor((1.0 - float(weight)) * (1 << FILTERBANK_BITS) + 0.5))
        end_index = max(end_index, starts[chan] + widths[chan])
    if end_index >= spectrum_size:
        raise ValueError(f"filterbank reaches FFT bin {end_index}, beyond the spectrum ({spectrum_size} bins): "
                         "lower upper_band_limit_hz or raise the window")
    return (np.array(starts, np.int16), np.array(widths, np.int16), np.array(weights, np.int16),
            np.array(unweights, np.int16), start_index, end_index)


def _pcan_gain_lut(config: FrontendConfig, input_bits: int) -> np.ndarray:
    powf = _libm_powf()
    strength, offset = f32(config.pcan_strength), f32(config.pcan_offset)

    def gain(x: int) -> int:
        x_as_float = f32(f32(x) / f32(1 << input_bits))
        value = f32(f32(1 << config.pcan_gain_bits) * f32(powf(float(f32(x_as_float + offset)), float(-strength))))
        return 32767 if value > f32(32767) else int(f32(value + f32(0.5)))

    lut = np.zeros(PCAN_LUT_SIZE, np.int16)
    lut[0], lut[1] = gain(0), gain(1)
    for interval in range(2, WIDE_DYNAMIC_FUNCTION_BITS + 1):
        x0 = 1 << (interval - 1)
        x1 = x0 + (x0 >> 1)
        x2 = x0 + (x0 - 1) if interval == WIDE_DYNAMIC_FUNCTION_BITS else 2 * x0
        y0, y1, y2 = gain(x0), gain(x1), gain(x2)
        a1 = 4 * (y1 - y0) - (y2 - y0)
        a2 = (y2 - y0) - a1
        base = 4 * interval - 6  # the op's table layout: lut[4 * interval - 6 + k]
        lut[base:base + 3] = np.array([y0, a1, a2], np.int64).astype(np.int16)
    return lut


def _log_lut() -> np.ndarray:
    """Correction of log2(1 + x) - x on 2^7 segments, in 1/2^16 (the op's kLogLut), plus its end marker."""
    segments = 1 << LOG_SEGMENTS_LOG2
    values = [math.floor((math.log2(1 + i / segments) - i / segments) * (1 << LOG_SCALE_LOG2) + 0.5)
              for i in range(segments + 1)]
    return np.array(values + [0], np.uint16)


def frontend_tables(config: FrontendConfig) -> FrontendTables:
    window_samples, stride_samples = config.window_samples, config.stride_samples
    fft_size = 1
    while fft_size < window_samples:
        fft_size <<= 1
    if fft_size < 8:
        raise ValueError(f"window of {window_samples} samples is too short for the front end")
    half = fft_size // 2
    twiddles = np.array([_cexp(-2 * PI * i / half) for i in range(half)], np.int16)
    super_twiddles = np.array([_cexp(-PI_SUPER * ((i + 1) / half + 0.5)) for i in range(half // 2)], np.int16)
    factors = _fft_factors(half)
    if any(p not in (2, 4) for p, _ in factors):
        raise ValueError(f"FFT of {half} points needs radix {factors}; the C front end has radix 2 and 4")
    starts, widths, weights, unweights, start_index, end_index = _filterbank(config, half + 1)
    correction_bits = fft_size.bit_length() - 1 - FILTERBANK_BITS // 2
    to_q14 = lambda v: int(f32(f32(v) * f32(1 << NOISE_REDUCTION_BITS)))  # noqa: E731  float -> uint16
    return FrontendTables(
        window_samples=window_samples, stride_samples=stride_samples, fft_size=fft_size, window=_window(window_samples),
        twiddles=twiddles, super_twiddles=super_twiddles, fft_factors=np.array(factors, np.int16),
        channel_starts=starts, channel_widths=widths, weights=weights, unweights=unweights,
        pcan_gain_lut=_pcan_gain_lut(config, config.smoothing_bits - correction_bits),
        log_lut=_log_lut(), even_smoothing_q14=to_q14(config.even_smoothing),
        odd_smoothing_q14=to_q14(config.odd_smoothing), min_signal_remaining_q14=to_q14(config.min_signal_remaining),
        correction_bits=correction_bits, pcan_snr_shift=config.pcan_gain_bits - correction_bits - PCAN_SNR_BITS,
        filterbank_start_index=start_index, filterbank_end_index=end_index)
