"""Aligner building blocks that need no training: features, lexicon, HMM graphs and Viterbi, config."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.align import AlignerConfig
from corpus.align.features import FRAME_S, frame_count, log_mel, normalize, splice
from corpus.align.hmm import Topology, build_graph, free_loop_score, viterbi, viterbi_batch
from corpus.align.lexicon import Lexicon, LexiconError, read_mfa_dictionary


def test_features_frames_are_centred_on_10ms_cells():
    rate = 16000
    samples = np.zeros(rate, np.float32)
    samples[8000:8800] = np.sin(np.arange(800) * 0.3)  # a burst from 0.5 s to 0.55 s
    feats = log_mel(samples)
    assert feats.shape == (frame_count(rate), 40) == (100, 40)
    energy = feats.max(axis=1)
    loud = np.flatnonzero(energy > energy.max() - 6)
    assert abs(loud[0] * FRAME_S - 0.5) <= 0.02 and abs((loud[-1] + 1) * FRAME_S - 0.55) <= 0.02
    norm = normalize(feats)
    assert np.allclose(norm.mean(axis=0), 0, atol=1e-4) and np.all(np.isfinite(normalize(log_mel(np.zeros(800)))))
    spliced = splice(norm, (-1, 0, 1))
    assert spliced.shape == (100, 120) and np.array_equal(spliced[0, :40], norm[0])  # edges repeat


def test_lexicon_graphemes_unseen_and_dictionary(tmp_path):
    lexicon = Lexicon.from_words(["ng'ombe"] * 10 + ["akawuka"] * 10 + ["é"], min_count=5)
    assert "é" not in lexicon.units and "'" in lexicon.units
    assert [lexicon.units[u] for u in lexicon.units_of("ng'ombe")] == list("ng'ombe")
    with pytest.raises(LexiconError, match="never seen in training.*U\\+00E9"):
        lexicon.units_of("café")
    path = tmp_path / "lex.dict"
    path.write_text(";; comment\nhello\th ə l oʊ\nhello\th ɛ l oʊ\nworld 0.9 0.1 1.0 1.0 w ɜː l d\n",
                    encoding="utf-8")
    entries = read_mfa_dictionary(path)
    assert entries == {"hello": ("h", "ə", "l", "oʊ"), "world": ("w", "ɜː", "l", "d")}
    with_dict = Lexicon.from_words(["hello", "world"], dictionary=entries, min_count=1)
    assert [with_dict.units[u] for u in with_dict.units_of("world")] == ["w", "ɜː", "l", "d"]
    assert Lexicon.from_json(with_dict.to_json()) == with_dict
    bad = tmp_path / "bad.dict"
    bad.write_text("lonely\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="expected"):
        read_mfa_dictionary(bad)


def _scores_for(labels: list[int], n_classes: int) -> np.ndarray:
    scores = np.full((len(labels), n_classes), -8.0, np.float32)
    scores[np.arange(len(labels)), labels] = 0.0
    return scores


def test_viterbi_finds_the_planted_path_with_optional_pauses():
    topo = Topology.uniform(n_units=3, states_per_unit=2, silence_states=1)
    sil = topo.silence_first
    # sil sil | word0 = unit0 (classes 0,1) | pause | word1 = unit2 (4,5) unit1 (2,3) | sil
    labels = [sil, sil, 0, 0, 1, sil, sil, 4, 5, 5, 2, 3, sil]
    graph = build_graph([(0,), (2, 1)], topo)
    best, path = viterbi(_scores_for(labels, topo.n_classes), graph)
    assert np.isfinite(best)
    assert graph.cls[path].tolist() == labels
    assert graph.word[path].tolist() == [-1, -1, 0, 0, 0, -1, -1, 1, 1, 1, 1, 1, -1]
    # no pause in the audio: the skip arc joins the words directly
    tight = [0, 1, 4, 5, 2, 3]
    best, path = viterbi(_scores_for(tight, topo.n_classes), graph)
    assert graph.cls[path].tolist() == tight
    # too few frames for the transcript
    best, _ = viterbi(_scores_for([0, 1, 4], topo.n_classes), graph)
    assert best == float("-inf")


def test_batch_equals_single_and_free_loop_bounds_forced():
    rng = np.random.default_rng(0)
    topo = Topology.uniform(n_units=4, states_per_unit=3, silence_states=2)
    graphs = [build_graph([(0, 1), (2,)], topo), build_graph([(3,), (1, 2, 0)], topo), build_graph([(1,)], topo)]
    lengths = [40, 55, 2]
    scores = rng.normal(size=(sum(lengths), topo.n_classes)).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    best, path = viterbi_batch(scores, offsets, graphs)
    for k, g in enumerate(graphs):
        single_best, single_path = viterbi(scores[offsets[k]:offsets[k + 1]], g)
        assert single_best == pytest.approx(best[k], rel=1e-6, abs=1e-4) or (best[k] == single_best == -np.inf)
        if np.isfinite(single_best):
            assert np.array_equal(single_path, path[offsets[k]:offsets[k + 1]])
    assert best[2] == -np.inf  # 2 frames cannot hold 3 states
    free = free_loop_score(scores, offsets, Topology(topo.n_units, 3, 2, topo.loop_lp, topo.exit_lp,
                                                     switch_penalty=0.0, silence_penalty=0.0))
    assert np.all(free[:2] >= best[:2] - 1e-3)  # the free loop can always do what the forced path does


def test_config_round_trip_and_validation():
    config = AlignerConfig(mlp_hidden=(64,), splice=(-1, 0, 1), seed=3)
    assert AlignerConfig.from_json(config.to_json()) == config
    with pytest.raises(ValueError):
        AlignerConfig(splice=(-1, 1))
    with pytest.raises(ValueError, match="unknown"):
        AlignerConfig.from_json('{"nonsense": 1}')


def test_abbreviations_are_spelled_as_spoken():
    from corpus.align.lexicon import spell, spoken_form

    assert spoken_form("mr", "en") == "mister" and spoken_form("mr", "lg") == "mr"
    assert spoken_form("usw", "de") == "undsoweiter"
    lexicon = Lexicon(units=tuple("mister"), dictionary={})
    assert spell(lexicon, "mr", "en") == lexicon.units_of("mister") and len(spell(lexicon, "mr", "lg")) == 2
    with_entry = Lexicon(units=("m", "r", "M", "R"), dictionary={"mr": ("M", "R")})
    assert spell(with_entry, "mr", "en") == with_entry.units_of("mr")  # a dictionary entry wins
