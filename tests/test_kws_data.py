"""MSWC trees -> clips, cache, corrupt clips, augmentation and tf.data determinism, shot and unknown selection."""

import numpy as np
import pytest

from corpus.demo.mswc import SynthMswcConfig, synth_mswc
from kws.augmenter import AugmentConfig, Augmenter
from kws.data import SILENCE_INDEX, DataError, load_pool, make_noise_bank, open_tree, refs_of
from kws.datasets import clip_features, silence_features, train_dataset
from kws.fewshot import check_keywords, choose_shots, unknown_bank


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("mswc")
    synth_mswc(SynthMswcConfig(language="lg", words=5, clips_per_word=8, speakers=12, seed=3), root, jobs=2,
               progress=False)
    return open_tree(root, "lg")


@pytest.fixture(scope="module")
def noise():
    return make_noise_bank(seed=0, seconds=5.0)


def test_open_tree_errors_say_what_was_expected(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        open_tree(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="not an MSWC-layout"):
        open_tree(tmp_path)


def test_pool_skips_and_reports_a_corrupt_clip_and_caches(tree, tmp_path):
    import shutil

    copy = tmp_path / "lg"
    shutil.copytree(tree.root, copy)
    release = open_tree(copy)
    refs = refs_of(release, release.clips)
    bad = refs[3]
    (copy / "clips" / bad.link).write_bytes(b"OggS this is not opus")
    pool = load_pool({"lg": release}, refs, cache_dir=tmp_path / "cache", jobs=1)
    assert len(pool) == len(refs) - 1 and pool.audio.shape == (len(refs) - 1, 16000)
    assert [f[0] for f in pool.failures] == [bad.id] and bad.link.split("/")[-1] in pool.failures[0][1]
    assert len(list((tmp_path / "cache").glob("audio-*.npy"))) == 1
    again = load_pool({"lg": release}, refs, cache_dir=tmp_path / "cache", jobs=1)
    assert again.refs == pool.refs and np.array_equal(again.audio, pool.audio) and again.failures == pool.failures
    features = clip_features(pool, cache_dir=tmp_path / "cache")
    assert features.shape == (len(pool), 49, 40)
    assert np.array_equal(clip_features(pool, cache_dir=tmp_path / "cache"), features)


def test_augmentation_is_seeded_and_does_what_it_says(tree, noise):
    refs = refs_of(tree, tree.clips)
    pool = load_pool({"lg": tree}, refs, cache_dir=None, jobs=1)
    augmenter = Augmenter(pool, noise, AugmentConfig(context_prob=0.5))
    indices = np.array([0, 1, 2, SILENCE_INDEX] * 8)
    a, starts = augmenter.audio(indices, np.random.default_rng(7))
    b, starts_b = augmenter.audio(indices, np.random.default_rng(7))
    assert np.array_equal(a, b) and np.array_equal(starts, starts_b)
    assert a.shape == (32, 32000) and a.dtype == np.int16 and set(starts) <= {0, 16000}
    assert 0 < np.sum(starts == 0) < 32
    clean = AugmentConfig(time_shift_ms=0, noise_prob=0.0, gain_db=(0.0, 0.0), context_prob=0.0)
    plain, starts = Augmenter(pool, noise, clean).audio(np.array([0, 1]), np.random.default_rng(0))
    assert np.all(starts == 16000) and np.abs(plain[:, 16000:].astype(int) - pool.audio[:2]).max() <= 1


def test_tf_dataset_is_deterministic_per_seed(tree, noise):
    refs = refs_of(tree, tree.clips)
    pool = load_pool({"lg": tree}, refs, cache_dir=None, jobs=1)
    augmenter = Augmenter(pool, noise)
    indices = np.arange(len(pool))
    labels = np.arange(len(pool)) % 3

    def epoch(seed):
        dataset = train_dataset(augmenter, indices, labels, batch_size=8, seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in dataset]

    first, second = epoch(5), epoch(5)
    assert all(np.array_equal(x1, x2) and np.array_equal(y1, y2) for (x1, y1), (x2, y2) in zip(first, second))
    assert first[0][0].shape == (8, 49, 40) and first[0][0].dtype == np.float32
    assert not np.array_equal(epoch(6)[0][0], first[0][0])
    dataset = train_dataset(augmenter, indices, labels, batch_size=8, seed=5)
    one, two = [x.numpy() for x, _ in dataset][0], [x.numpy() for x, _ in dataset][0]
    assert not np.array_equal(one, two)  # each pass (epoch) draws fresh augmentation
    assert silence_features(noise, 3, seed=1).shape == (3, 49, 40)


def test_shots_come_from_train_speakers_and_bad_keywords_are_named(tree):
    keyword = "akawuka"
    shots = choose_shots(tree, keyword, 3, seed=0)
    train_speakers = {c.speaker for c in tree.by_set("TRAIN")}
    assert len(shots) == 3 and all(s.set == "TRAIN" and s.speaker in train_speakers for s in shots)
    assert len({s.speaker for s in shots}) == 3
    assert choose_shots(tree, keyword, 3, seed=0) == shots
    available = sum(1 for c in tree.by_set("TRAIN") if c.word == keyword)
    with pytest.raises(DataError, match=f"has {available} valid TRAIN clip"):
        choose_shots(tree, keyword, available + 1, seed=0)
    with pytest.raises(DataError, match="akawuka") as error:
        check_keywords(tree, ["akawukka"])
    assert "close" in str(error.value)
    bank = unknown_bank([tree], [keyword], 10, seed=0)
    assert len(bank) == 10 and all(r.word != keyword and r.set == "TRAIN" for r in bank)
    assert len({r.word for r in bank}) == 4  # spread over the other words


def test_neighbours_surround_the_word_without_touching_it(tree, noise):
    refs = refs_of(tree, tree.clips)
    pool = load_pool({"lg": tree}, refs, cache_dir=None, jobs=1)
    config = AugmentConfig(neighbor_prob=1.0, noise_prob=0.0, context_prob=0.0, time_shift_ms=0, gain_db=(0.0, 0.0))
    augmenter = Augmenter(pool, noise, config)
    rows = np.arange(12)
    audio, _ = augmenter.audio(rows, np.random.default_rng(3))
    clips = audio[:, 16000:].astype(np.float32) / 32768
    original = pool.audio[rows].astype(np.float32) / 32768
    spans = augmenter._spans()[rows]
    added = 0
    for clip, before, (first, last) in zip(clips, original, spans):
        assert np.abs(clip[first:last] - before[first:last]).max() < 2e-3  # the word itself is unchanged
        outside = np.concatenate([clip[:first] - before[:first], clip[last:] - before[last:]])
        added += np.sqrt(np.mean(outside ** 2)) > 1e-3
    assert added >= 6  # most clips got neighbouring speech (short clips may leave no room)


def test_tempo_perturbation_shortens_the_word_and_keeps_the_clip_length(tree, noise):
    refs = refs_of(tree, tree.clips)
    pool = load_pool({"lg": tree}, refs, cache_dir=None, jobs=1)
    plain = dict(noise_prob=0.0, context_prob=0.0, time_shift_ms=0, gain_db=(0.0, 0.0))
    rows = np.arange(8)
    faster = Augmenter(pool, noise, AugmentConfig(tempo_prob=1.0, tempo_range=(1.5, 1.5), **plain))
    audio, _ = faster.audio(rows, np.random.default_rng(0))
    assert audio.shape == (8, 32000)
    stretched = Augmenter(pool, noise, AugmentConfig(**plain))  # spans of the augmented rows, measured alike
    stretched.pool = type(pool)(refs=pool.refs[:8], audio=audio[:, 16000:], failures=())
    before = np.diff(faster._spans()[rows], axis=1)[:, 0]
    after = np.diff(stretched._spans(), axis=1)[:, 0]
    assert np.median(after / before) == pytest.approx(1 / 1.5, abs=0.08)


def test_babble_lasts_as_long_as_asked_and_embeddings_keep_their_30_s():
    from kws.embedding import embedding_noise_bank

    bank = make_noise_bank(seed=0, seconds=5.0, babble_languages=("en",), babble_seconds=8.0)
    assert bank.names == ("white", "pink", "brown", "babble-en") and len(bank.signals[3]) == 8 * 16000
    assert np.sqrt(np.mean(bank.signals[3] ** 2)) == pytest.approx(1.0, rel=1e-3)
    assert len(embedding_noise_bank(seed=0, babble_languages=("en",)).signals[3]) == 30 * 16000


def test_few_shot_refuses_an_unknown_tree_of_the_target_language(tree, noise, tmp_path):
    """Clip ids are <lang>/<link>: a second lg tree in one pool would be looked up in the wrong folder."""
    from kws.fewshot import FewShotConfig, train_fewshot

    other_root = tmp_path / "other"
    synth_mswc(SynthMswcConfig(language="lg", words=3, clips_per_word=6, speakers=6, seed=9), other_root, jobs=1,
               progress=False)
    other = open_tree(other_root, "lg")
    config = FewShotConfig(keywords=("akawuka",), shots=3)
    with pytest.raises(DataError, match="have the target's language 'lg'"):
        train_fewshot(None, tree, config, unknown_trees=[other], noise=noise)
