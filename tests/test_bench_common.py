"""bench/_common.py: a result file stores paths under the checkout relative to it, so it reads the same from
any clone."""

from __future__ import annotations

import json

from tests.conftest import bench_module


def test_paths_under_the_checkout_are_stored_relative_to_it(tmp_path, monkeypatch) -> None:
    common = bench_module("_common")
    monkeypatch.setattr(common, "RESULTS", tmp_path)
    root = common.ROOT
    payload = {"rows": [{"pretrained": f"hf:{root}/.venv/model", "out": f"{root}/bench/runs/x", "seed": 3}],
               "starts": (f"{root}/runs/a", "/elsewhere/b"), "note": f"{root}x stays"}  # fmt: skip
    stored = json.loads(common.save_json("r.json", payload).read_text())
    assert stored == {"rows": [{"pretrained": "hf:.venv/model", "out": "bench/runs/x", "seed": 3}],
                      "starts": ["runs/a", "/elsewhere/b"], "note": f"{root}x stays"}  # fmt: skip
