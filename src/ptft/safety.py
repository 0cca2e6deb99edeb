"""The torch ptft refuses to run on.

ptft never unpickles: weights, optimizer and random states are safetensors, the rest JSON, and there is no
`.pt` load path at all. Still, torch before 2.6 could execute code from a crafted checkpoint even through
`torch.load(..., weights_only=True)` (CVE-2025-32434, fixed in 2.6), and any library ptft calls might load
one; so ptft refuses older torch outright rather than trusting that nothing ever does.
"""

from __future__ import annotations

import re

MIN_TORCH = (2, 6)


def check_torch_version(version: str) -> None:
    """Raise ImportError (with the fix) if `version` (torch.__version__) is older than MIN_TORCH."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None or (int(match[1]), int(match[2])) < MIN_TORCH:
        need = ".".join(map(str, MIN_TORCH))
        raise ImportError(
            f"ptft needs torch >= {need}, found {version}: older torch can run code hidden in a checkpoint even "
            f"with weights_only=True (CVE-2025-32434). Upgrade: pip install 'torch>={need}'"
        )
