"""The environment fingerprint: flattening, masking, partial sources, drift."""

import json
from pathlib import Path

from loadkit.fingerprint import Change, EnvironmentSpec, collect_fingerprint, drift, flatten, mask


def test_flatten_and_mask():
    assert flatten({"db": {"pool": 10, "hosts": ["a", "b"]}, "cache": True}) == {
        "db.pool": "10", "db.hosts.0": "a", "db.hosts.1": "b", "cache": "true"}
    masked = mask("app.yaml#db.password", "hunter2")
    assert masked.startswith("***") and "hunter2" not in masked
    assert mask("app.yaml#db.password", "hunter3") != masked  # a changed secret still shows as a change
    assert mask("x#database_url", "postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert mask("x#API_TOKEN", "abc").startswith("***")


def test_collect_from_files_urls_env_and_pairs(tmp_path):
    (tmp_path / "app.yaml").write_text("db:\n  pool: 10\n  password: s3cret\nfeature: on\n")
    (tmp_path / "app.env").write_text("# comment\nWORKERS=4\nSECRET_KEY=zzz\n")
    pages = {"http://t/config": json.dumps({"cache": True, "port": 8123}).encode()}
    spec = EnvironmentSpec(files=(str(tmp_path / "app.yaml"), str(tmp_path / "app.env"), str(tmp_path / "gone.yaml")),
                           urls=("/config", "http://t/missing"), env=("RELEASE",), ignore=("*#port",))

    def fetch(url):
        if url not in pages:
            raise OSError(f"HTTP Error 404 for {url}")
        return pages[url]

    fp = collect_fingerprint(spec, {"BUILD": "42"}, {"RELEASE": "1.2", "OTHER": "x"},
                             lambda p: Path(p).read_bytes(), fetch, base_url="http://t")
    v = fp.values
    assert v[f"{tmp_path}/app.yaml#db.pool"] == "10" and v[f"{tmp_path}/app.yaml#feature"] == "true"
    assert v[f"{tmp_path}/app.env#WORKERS"] == "4"
    assert v["/config#cache"] == "true" and "/config#port" not in v
    assert v["env#RELEASE"] == "1.2" and "env#OTHER" not in v and v["cli#BUILD"] == "42"
    assert "s3cret" not in json.dumps(fp.to_json()) and "zzz" not in json.dumps(fp.to_json())
    assert len(fp.errors) == 2 and any("gone.yaml" in e for e in fp.errors)
    again = collect_fingerprint(spec, {"BUILD": "42"}, {"RELEASE": "1.2"}, lambda p: Path(p).read_bytes(), fetch,
                                base_url="http://t")
    assert again.hash == fp.hash


def test_drift_lists_changed_added_and_removed_keys():
    old = {"a": "1", "b": "2", "c": "3"}
    new = {"a": "1", "b": "20", "d": "4"}
    assert drift(old, new) == [Change("b", "2", "20"), Change("c", "3", None), Change("d", None, "4")]
    assert drift(old, dict(old)) == []
