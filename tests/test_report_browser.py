"""The compare report in a real browser: headless Chromium (Debian package `chromium`, installed by
`make test`) renders report.html offline - any request leaving the file would fail and be logged - and
the screenshot is not blank, the verdicts are on the page, and no console error is raised."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ptft.evaluate.report import write_reports

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def results() -> dict[str, Any]:
    """A small study's results, as compare writes them (two budgets, three seeds, a baseline)."""
    rows = []
    for k, (base, pre) in {4: (0.50, 0.58), 8: (0.60, 0.66)}.items():
        methods = (("logreg", "baseline", base - 0.02), ("scratch", "finetune", base), ("full", "finetune", pre))
        for method, kind, mean in methods:
            rows += [{"method": method, "kind": kind, "labels_per_class": k, "seed": s, "accuracy": mean + 0.01 * s,
                      "macro_f1": mean - 0.05} for s in range(3)]  # fmt: skip
    from ptft.evaluate.summary import summarize, verdicts

    summary = summarize(rows)
    config = {"data": "my_images/", "labels_per_class": [4, 8], "seeds": 3, "seed": 0, "out": "runs/compare",
              "test": "", "pretrained": ["runs/pre"], "methods": []}  # fmt: skip
    data = {"source": "my_images/", "n": 500, "test": "a seeded, stratified 20% of my_images/", "test_n": 100,
            "modality": "image"}  # fmt: skip
    return {"rows": rows, "summary": summary, "verdicts": verdicts(summary, rows), "data": data, "config": config,
            "versions": {"ptft": "0.1.0"}}  # fmt: skip


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (make test installs it)")
def test_report_renders_offline_in_headless_chromium(tmp_path: Path) -> None:
    study = results()
    _, page = write_reports(tmp_path, study)
    assert "http://" not in page.read_text() and "https://" not in page.read_text()
    offline = ["--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9", "--enable-logging=stderr",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    shot = tmp_path / "report.png"
    done = subprocess.run([CHROMIUM, *offline, f"--screenshot={shot}", "--window-size=1100,1800", page.as_uri()],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shot.is_file(), done.stderr[-2000:]
    shutil.copy(shot, tmp_path.parent / "ptft-report-screenshot.png")  # to look at after a run
    log = done.stderr
    assert "CONSOLE" not in log and "net::ERR" not in log, log[-2000:]  # no console message, no failed request
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.01  # text and plots drawn, not a blank page
    dom = subprocess.run([CHROMIUM, *offline, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    first = study["verdicts"][0]["sentences"][0]
    assert "pre-training (full) helped by 8.0 points over scratch" in first and first in dom.stdout
    assert dom.stdout.count("<img") == 2 and "4 labels per class" in dom.stdout
