"""The People's Speech builder's configuration: one frozen dataclass, saved as `build_config.json` next to
the output, and the stage list.

Thresholds follow the People's Speech paper where it states them (utterances of at most 15 s cut at
pauses, a new utterance after a gap longer than 3 s; CER tiers clean < 20 %, noisy 20-38 %, the rest
dropped); the rest are this builder's choices, each named with its unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpus.configs import json_text

__all__ = ["BuildConfig", "STAGES", "SUBSETS", "LICENSES_KEPT", "subset_name"]

STAGES = ("ingest", "normalize", "align", "segment", "grade", "dedup", "split", "write")
SUBSETS = ("clean", "clean_sa", "noisy", "noisy_sa")  # exactly the People's Speech's names
LICENSES_KEPT = ("cc-by", "cc-by-sa", "public-domain")


def subset_name(tier: str, license: str) -> str:
    """'clean' or 'noisy', with '_sa' for CC-BY-SA documents (CC-BY and public domain share the plain name)."""
    return f"{tier}_sa" if license == "cc-by-sa" else tier


@dataclass(frozen=True, kw_only=True)
class BuildConfig:
    language: str = "en"
    seed: int = 0
    on_error: str = "skip"                  # skip: report bad items and go on; stop: raise at the first one
    # ingest
    min_words_per_audio_min: float = 5.0    # fewer caption words per minute of audio: "hours with three words"
    min_audio_s: float = 1.0
    # the aligner: the cached synthetic head start of the language adapted to the corpus by a short EM
    # ("head_start"), or one trained on the corpus from a flat start in two passes ("flat"; the fallback for a
    # language espeak-ng cannot speak)
    aligner_init: str = "head_start"
    head_start: str = ""                    # a head-start model folder; "": the cached one for the language
    adapt_rounds: int = 2                   # EM rounds of the head start on the corpus's caption cues
    adapt_epochs: int = 2                   # MLP epochs per round
    adapt_max_s: float = 240.0              # audio the head start adapts on (the most confident caption cues,
                                            # documents taking turns); 0: every cue (up to train_max_utterances)
    train_max_utterances: int = 1500        # caption cues used to train (or adapt) the aligner
    train_pad_s: float = 0.4                # a cue's span is widened by this much after the timing estimate
    train_mlp_rounds: int = 2
    train_mlp_epochs: tuple[int, ...] = (3, 2)
    train_gmm_mixtures: tuple[int, ...] = (1, 1, 2, 4)
    # align
    window_s: float = 30.0
    commit_s: float = 25.0                  # each window commits the words ending in its first 25 s (less overlap:
                                            # 20 s aligned each frame 1.5 times, 25 s 1.2 times; same figures)
    garbage_lp: float = -6.0                # long alignment: per-frame cost of untranscribed sound
    word_skip_lp: float = -30.0             # long alignment: cost of leaving a transcript word out
    probe_s: float = 90.0                   # a document first aligns this much audio; a mismatch stops there
    min_word_confidence: float = 0.5        # a word aligned with less counts as not matched
    min_matched_share: float = 0.05         # matched transcript words / words, below: transcript_mismatch (real
                                            # voices match 15-35 %: the grader decides between that and wrong text)
    timeout_s_per_audio_s: float = 0.5      # alignment slower than 2x real time counts as a timeout
    # segment
    max_utterance_s: float = 15.0
    min_utterance_s: float = 1.0
    max_gap_s: float = 3.0                  # a longer pause always ends an utterance
    pad_s: float = 0.15                     # audio kept around the first and last word (at most half the pause)
    min_word_score: float = 0.25            # words aligned with less confidence are left out of utterances
    max_word_s: float = 0.4                 # and words longer than this + 0.1 s per letter
    max_stretch: float = 1.5                # or than this x the document's median seconds per letter + 0.1 s
    trim_unsure_edges: bool = True          # edge words next to a skipped or badly placed word are trimmed off
    bridge_unreliable_words: bool = True    # but badly placed words pinned between reliable neighbours stay inside
    lengthened_touch_s: float = 0.2         # a word only too slow (phrase-final lengthening), touching its neighbour
                                            # within this, is kept with its far edge clipped (segment._clip_lengthened)
    edge_word_score: float = 0.4            # an utterance's first/last word aligned with less is trimmed off
    typical_word_score: float = 0.85        # a document whose median word confidence is lower gets both floors
                                            # scaled by (median / this)^2 (real voices: 0.3-0.5; synthetic 0.9)
    refine: bool = False                    # re-align each utterance's words in its window (corpus.align)
    # grade
    recognizer: str = "grammar"             # grammar | asr:<model dir> | module:<pkg.mod:function>[:<arg>]
    # grammar recognizer: a word loop over the utterance's own transcript words and this many either side
    # (0: the whole document's words), weighted by their counts and bigrams (lm weight, bonus per bigram)
    grammar_context_words: int = 10
    grammar_lm_weight: float = 6.0
    grammar_bigram_bonus: float = 4.0
    document_max_median_cer: float = 0.38   # a document whose median utterance CER is this or more is dropped
    min_kept_word_share: float = 0.15       # and one whose passing utterances hold fewer of its placed words
    clean_max_cer: float = 0.20
    noisy_max_cer: float = 0.38
    # dedup
    shingle_words: int = 5
    minhash_permutations: int = 128
    lsh_bands: int = 32                     # rows per band = permutations / bands
    dedup_threshold: float = 0.7            # estimated Jaccard at or above: duplicates
    # split + write
    shares: tuple[float, float, float] = (0.8, 0.1, 0.1)
    shard_bytes: int = 0                    # > 0: also write tar shards of about this size (100 MiB: 104857600)

    def __post_init__(self) -> None:
        if self.on_error not in ("skip", "stop"):
            raise ValueError(f"on_error must be skip or stop, got {self.on_error!r}")
        if not 0 < self.clean_max_cer <= self.noisy_max_cer:
            raise ValueError("need 0 < clean_max_cer <= noisy_max_cer")
        if not 0 < self.min_utterance_s < self.max_utterance_s:
            raise ValueError("need 0 < min_utterance_s < max_utterance_s")
        if self.minhash_permutations % self.lsh_bands:
            raise ValueError("minhash_permutations must be a multiple of lsh_bands")
        if len(self.shares) != 3 or abs(sum(self.shares) - 1) > 1e-6 or min(self.shares) < 0:
            raise ValueError("shares must be three non-negative numbers summing to 1 (train, dev, test)")
        if not 0 < self.commit_s < self.window_s:
            raise ValueError("need 0 < commit_s < window_s")
        if self.shingle_words < 1 or not 0 < self.dedup_threshold <= 1:
            raise ValueError("shingle_words must be >= 1 and dedup_threshold in (0, 1]")
        if self.aligner_init not in ("head_start", "flat"):
            raise ValueError(f"aligner_init must be head_start or flat, got {self.aligner_init!r}")
        if self.adapt_rounds < 1 or self.adapt_epochs < 1 or self.adapt_max_s < 0:
            raise ValueError("adapt_rounds and adapt_epochs must be >= 1, adapt_max_s >= 0")
        if not (self.recognizer == "grammar" or self.recognizer.startswith(("asr:", "module:"))):
            raise ValueError(f"recognizer must be grammar, asr:<model dir> or module:<pkg.mod:func>, "
                             f"got {self.recognizer!r}")

    def to_json(self) -> str:
        return json_text(self)
