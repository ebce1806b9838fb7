"""Damaged profiles and hostile log lines: a located exit-2 line or a line counted as malformed, never exit 3."""

from __future__ import annotations

import json
import shutil

import pytest

from loadkit.cli import main


@pytest.fixture()
def profile(tmp_path):
    lines = [json.dumps({"time": 1_700_000_000 + i // 5, "method": "GET", "path": "/"}) for i in range(600)]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["profile", "import", str(tmp_path / "log.jsonl"), "-o", str(tmp_path / "p.csv"), "--no-chart"]) == 0
    (tmp_path / "s.yaml").write_text("name: r\ntarget: {host: http://127.0.0.1:1}\n"
                                     "users: [{name: u, requests: [{name: x, path: /}]}]\n"
                                     "load: {replay: p.csv, map: {'GET /': x}, unmapped: drop}\n")
    for f in ("p.csv", "p.json"):
        shutil.copy(tmp_path / f, tmp_path / f"{f}.good")
    return tmp_path


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d.update(interval_s="abc"), "malformed profile"),
    (lambda d: d.pop("start"), "malformed profile"),
    (lambda d: [1, 2], "format: expected"),
    (lambda d: d.update(endpoints=[{"method": 1}]), "malformed profile"),
    (lambda d: d.update(interval_s=float("nan")), "interval_s: expected a positive number"),
    (lambda d: d.update(interval_s=-5), "interval_s: expected a positive number"),
    (lambda d: d.update(start="yesterday"), "malformed profile"),
])
def test_a_damaged_profile_is_one_located_line(profile, capsys, damage, message):
    doc = json.loads((profile / "p.json.good").read_text())
    out = damage(doc)
    (profile / "p.json").write_text(json.dumps(doc if out is None or isinstance(out, (str, int)) else out))
    assert main(["validate", str(profile / "s.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s.yaml:4: load.replay: cannot read profile" in err[0] and message in err[0], err


@pytest.mark.parametrize("rates", ["start,requests,rate\nxx,yy,zz\n", "start,requests,rate\n2023-11-14T22:13:20Z,-5,1\n",
                                   "start,requests,rate\n2023-11-14T22:13:20Z,nan,1\n", ""])
def test_a_damaged_rate_series_is_one_located_line(profile, capsys, rates):
    (profile / "p.csv").write_text(rates)
    assert main(["validate", str(profile / "s.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "p.csv" in err[0], err


def test_a_timestamp_from_no_century_is_a_malformed_line(tmp_path, capsys):
    lines = [json.dumps({"time": 1_700_000_000 + i, "method": "GET", "path": "/"}) for i in range(300)]
    lines.insert(5, json.dumps({"time": 1e300, "method": "GET", "path": "/"}))
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["profile", "import", str(tmp_path / "log.jsonl"), "-o", str(tmp_path / "p.csv"), "--no-chart"]) == 0
    out = capsys.readouterr()
    assert "1 malformed" in out.out + out.err and json.loads((tmp_path / "p.json").read_text())["requests"] == 300
