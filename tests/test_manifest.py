import gzip
import json

import pytest

from corpus.manifest import (AlignedWord, Alignment, CheckpointLog, ManifestError, Recording, Supervision,
                             read_jsonl, read_manifest, validate_supervisions, write_jsonl, write_manifest)


def recs():
    return [Recording(id="r1", path="a.wav", sample_rate_hz=16000, num_samples=32000),
            Recording(id="r2", path="b.flac", sample_rate_hz=16000, num_samples=16000)]


def sups():
    return [Supervision(id="s1", recording_id="r1", start_s=0.5, duration_s=1.0, text="ab", language="lg",
                        speaker="x", gender="female", custom={"k": [1, 2]}),
            Supervision(id="s2", recording_id="r2", start_s=0.0, duration_s=1.0, text="ü", language="lg")]


@pytest.mark.parametrize("name", ["m.jsonl", "m.jsonl.gz"])
def test_round_trip(tmp_path, name):
    path = write_manifest(tmp_path / name, sups())
    assert list(read_manifest(path, Supervision)) == sups()
    al = Alignment(id="s1", recording_id="r1", words=(AlignedWord(text="ab", start_s=0.5, duration_s=0.3, score=0.9),),
                   units=(AlignedWord(text="a", start_s=0.5, duration_s=0.1),), score=0.8)
    write_manifest(tmp_path / ("a" + name), [al])
    assert list(read_manifest(tmp_path / ("a" + name), Alignment)) == [al]


def test_recording_duration_is_derived_and_checked():
    assert recs()[0].duration_s == 2.0
    with pytest.raises(ValueError, match="disagrees"):
        Recording(id="r", path="p", sample_rate_hz=16000, num_samples=16000, duration_s=3.0)


def test_gzip_output_is_byte_deterministic(tmp_path):
    write_manifest(tmp_path / "a.jsonl.gz", sups())
    write_manifest(tmp_path / "b.jsonl.gz", sups())
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_duplicate_ids_rejected_and_nothing_written(tmp_path):
    with pytest.raises(ManifestError, match="duplicate id 's1'") as info:
        write_manifest(tmp_path / "m.jsonl", [sups()[0], sups()[0]])
    assert info.value.line == 2
    assert not (tmp_path / "m.jsonl").exists()


def test_segment_outside_recording_names_line(tmp_path):
    bad = Supervision(id="s3", recording_id="r2", start_s=0.5, duration_s=1.0, text="x", language="lg")
    with pytest.raises(ManifestError, match="past the end") as info:
        write_manifest(tmp_path / "m.jsonl", [*sups(), bad], validate=lambda items: validate_supervisions(items, recs()))
    assert info.value.line == 3
    with pytest.raises(ManifestError, match="unknown recording"):
        validate_supervisions([Supervision(id="s", recording_id="zz", start_s=0, duration_s=1, text="", language="x")],
                              recs())


@pytest.mark.parametrize("line,message", [
    ('{"id": "s", "recording_id": "r", "start_s": -1, "duration_s": 1, "text": "", "language": "x"}', "start_s"),
    ('{"id": "s", "recording_id": "r", "start_s": 0, "duration_s": "1", "text": "", "language": "x"}', "duration_s"),
    ('{"id": "s", "recording_id": "r", "start_s": 0, "duration_s": 1, "text": "", "language": "x", "zz": 1}', "unknown"),
    ('{"id": "s", "recording_id": "r", "start_s": 0}', "missing"),
    ('{"id": "s", "recording_id": "r", "start_s": NaN, "duration_s": 1, "text": "", "language": "x"}', "finite"),
    ("{not json", "invalid JSON"),
    ("[1, 2]", "JSON object"),
])
def test_malformed_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "m.jsonl"
    good = json.dumps({"id": "ok", "recording_id": "r", "start_s": 0, "duration_s": 1, "text": "", "language": "x"})
    path.write_text(good + "\n" + line + "\n")
    reader = read_manifest(path, Supervision)
    assert next(reader).id == "ok"  # lazy: the good line comes out before the bad one is parsed
    with pytest.raises(ManifestError, match=message) as info:
        next(reader)
    assert info.value.line == 2 and str(path) in str(info.value)


def test_alignment_words_must_be_ordered():
    with pytest.raises(ValueError, match="out of order"):
        Alignment(id="a", recording_id="r", words=(AlignedWord(text="b", start_s=1.0, duration_s=0.1),
                                                   AlignedWord(text="a", start_s=0.2, duration_s=0.1)))


def test_jsonl_dicts_round_trip(tmp_path):
    rows = [{"b": 1, "a": "ü"}, {"x": [1.5]}]
    write_jsonl(tmp_path / "t.jsonl.gz", rows)
    assert list(read_jsonl(tmp_path / "t.jsonl.gz")) == rows
    with gzip.open(tmp_path / "t.jsonl.gz", "rt") as handle:
        assert handle.readline() == '{"a": "ü", "b": 1}\n'


def test_checkpoint_log_resumes_after_torn_write(tmp_path):
    path = tmp_path / "log.jsonl"
    with CheckpointLog(path) as log:
        log.append("a", 1)
        log.append("b", {"x": 2})
        log.append("a", 99)  # a retry must not duplicate or overwrite
    with open(path, "a") as handle:
        handle.write('{"key": "c", "val')  # the process died mid-line
    log = CheckpointLog(path)
    assert set(log.records()) == {"a", "b"} and log.get("a")["value"] == 1
    log.append("c", 3)
    log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]
