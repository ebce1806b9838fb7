"""Parity with a reference, on literal fingerprints: alignment, map, scale, must_match, the document format."""

import json

import pytest

from loadkit.errors import ConfigError
from loadkit.parity import (
    FORMAT,
    Gap,
    ParityMode,
    ParityResult,
    ParitySpec,
    Reference,
    align,
    compare,
    diff,
    entry_text,
    read_reference,
    reference_from_json,
    unmatched,
    values_hash,
)
from loadkit.redact import mask_value
from loadkit.verdict.evaluate import parity_checks


def ref(values, sources=None, name="prod.json") -> Reference:
    return reference_from_json({"format": FORMAT, "values": values, "sources": sources or {}}, name)


def test_keys_align_by_url_path_and_file_name_not_by_host():
    prod = {"https://api.prod:8443/config?x=1#pool_size": "20", "/etc/helpdesk/app.yaml#workers": "8",
            "env#RELEASE": "7"}
    got = align(prod, {"https://api.prod:8443/config?x=1": "url", "/etc/helpdesk/app.yaml": "file"})
    assert set(got) == {"/config#pool_size", "app.yaml#workers", "env#RELEASE"}
    assert got["/config#pool_size"] == ("https://api.prod:8443/config?x=1#pool_size", "20")
    # documents without "sources" (older environment.json): a leading / is a URL path read from the target
    assert set(align({"/config#a": "1", "conf/app.yaml#b": "2"})) == {"/config#a", "app.yaml#b"}


def test_two_keys_aligning_to_one_name_keep_their_own_names():
    got = align({"a/app.yaml#x": "1", "b/app.yaml#x": "2"}, {"a/app.yaml": "file", "b/app.yaml": "file"})
    assert set(got) == {"a/app.yaml#x", "b/app.yaml#x"}


def test_compare_lists_every_difference_and_only_there_keys():
    spec = ParitySpec(ref({"https://api.prod/config#pool_size": "20", "https://api.prod/config#cache": "true",
                           "https://api.prod/config#db": "postgresql"}, {"https://api.prod/config": "url"}))
    here = {"/config#pool_size": "5", "/config#cache": "true", "/config#debug": "true"}
    r = compare(spec, here, {"/config": "url"})
    assert [(e.key, e.reference, e.here, e.gap) for e in r.entries] == [
        ("/config#db", "postgresql", None, Gap.ONLY_REFERENCE),
        ("/config#debug", None, "true", Gap.ONLY_HERE),
        ("/config#pool_size", "20", "5", Gap.DIFFERENT)]
    assert r.compared == 4 and not r.scaled
    assert ParityResult.from_json(json.loads(json.dumps(r.to_json()))) == r


def test_must_match_fails_with_both_values_and_warn_only_warns():
    reference = ref({"/config#pool_size": "20", "/config#cache": "true"})
    for mode, status in ((ParityMode.FAIL, "FAIL"), (ParityMode.WARN, "WARN")):
        r = compare(ParitySpec(reference, must_match=("*#pool_size",), mode=mode), {"/config#pool_size": "5",
                                                                                     "/config#cache": "false"})
        [check] = parity_checks(r)
        assert check.status == status and check.kind == "parity"
        assert "/config#pool_size" in check.reason and "reference 20" in check.reason and "this run 5" in check.reason
        assert "cache" not in check.reason  # listed, not must_match
    same = compare(ParitySpec(reference, must_match=("*#pool_size",)), {"/config#pool_size": "20"})
    assert parity_checks(same)[0].status == "PASS"
    gone = compare(ParitySpec(reference, must_match=("*#pool_size",)), {})
    assert parity_checks(gone)[0].status == "FAIL" and "only in the reference" in parity_checks(gone)[0].reason


def test_scale_declares_an_intended_ratio():
    reference = ref({"env#REPLICAS": "4", "env#WORKERS": "3", "env#MODE": "fast"})
    spec = ParitySpec(reference, must_match=("env#*",), scale=(("env#REPLICAS", 0.5), ("env#WORKERS", 0.5),
                                                                ("env#MODE", 2.0)))
    r = compare(spec, {"env#REPLICAS": "2", "env#WORKERS": "1", "env#MODE": "fast"})
    assert [e.key for e in r.scaled] == ["env#REPLICAS", "env#WORKERS"]  # 3 × 0.5 = 1.5: 1 or 2 replicas
    [bad] = r.differences
    assert bad.key == "env#MODE" and "needs two numbers" in bad.note
    wrong = compare(spec, {"env#REPLICAS": "4", "env#WORKERS": "2", "env#MODE": "fast"})
    off = {e.key: e for e in wrong.differences}
    assert "env#REPLICAS" in off and "expected 2" in off["env#REPLICAS"].note
    assert parity_checks(wrong)[0].status == "FAIL"


def test_map_renames_sources_and_single_keys_and_ignore_applies_to_both_sides():
    reference = ref({"/settings#pool": "10", "env#DB_POOL": "10", "/settings#port": "80"})
    spec = ParitySpec(reference, map=(("/settings", "/config"), ("env#DB_POOL", "/config#pool_size")),
                      ignore=("*#port",))
    r = compare(spec, {"/config#pool": "10", "/config#pool_size": "10", "/config#port": "8000"})
    assert r.entries == () and r.compared == 2


def test_unmatched_globs_and_map_names_are_reported():
    reference = ref({"/config#pool_size": "20"})
    spec = ParitySpec(reference, must_match=("*#pool_size", "db#max_connections"), scale=(("*#replicas", 0.5),),
                      map=(("/nowhere", "/config"),))
    problems = unmatched(spec)
    assert [(s, e) for s, e, _ in problems] == [("must_match", "db#max_connections"), ("scale", "*#replicas"),
                                                 ("map", "/nowhere")]
    assert "matches no key of the reference prod.json" in problems[0][2]


def test_reference_document_format_and_hash(tmp_path):
    values = {"/config#pool_size": "20", "x#db.password": "hunter2"}  # a hand-written secret is masked on read
    r = reference_from_json({"values": values}, "old.json")  # no "format": a run's environment.json from before it
    assert dict(r.values)["x#db.password"] == mask_value("hunter2")
    assert r.hash == values_hash(dict(r.values))
    again = reference_from_json(r.to_json(), "again.json")  # masking twice gives what masking once gives
    assert again.values == r.values and again.hash == r.hash
    with pytest.raises(ConfigError, match=r"v2.json: fingerprint format 2, this loadkit reads format 1"):
        reference_from_json({"format": 2, "values": {}}, "v2.json")
    with pytest.raises(ConfigError, match="not an environment fingerprint"):
        reference_from_json([1, 2], "list.json")
    with pytest.raises(ConfigError, match=r"values.a: expected text, got int"):
        reference_from_json({"values": {"a": 1}}, "n.json")
    with pytest.raises(ConfigError, match="cannot read the fingerprint"):
        read_reference(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json: not JSON"):
        read_reference(tmp_path / "bad.json")


def test_diff_between_two_fingerprints_and_the_wording():
    a, b = ref({"/config#pool_size": "20", "/config#auth.password": "x"}), ref({"/config#pool_size": "20"}, name="b")
    r = diff(a, b)
    [e] = r.differences
    assert entry_text(e, "b") == f"/config#auth.password only in the reference: {mask_value('x')}"
    assert diff(a, a).differences == ()
