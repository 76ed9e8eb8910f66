"""keep_freed_memory tunes glibc's allocator of a job's process; no number may change."""

from __future__ import annotations

import subprocess
import sys

import pytest

WORK = r"""
import sys
import torch
if sys.argv[1] == "keep":
    from pathfer.runtime.memory import keep_freed_memory
    assert keep_freed_memory() and keep_freed_memory()  # applies once, then says so again
torch.set_num_threads(1)
from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig
g = torch.Generator().manual_seed(0)
x, y = torch.rand(200, 1, 48, 48, generator=g), torch.randint(0, 3, (200,), generator=g)
ev = EvolutionConfig(population=4, steps_per_path=2, generations=3, finish_steps=4,
                     finish_eval_every=2)
pn = PathNet(PathNetConfig(), seed=1)
pn.learn_task("A", x[:150], y[:150], 3, evolution=ev, x_val=x[150:], y_val=y[150:])
sys.stdout.write(pn.predict_proba("A", x[150:]).tobytes().hex())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keeping_freed_memory_changes_no_number():
    def run(mode: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", WORK, mode], check=True, capture_output=True, text=True
        )
        return out.stdout

    plain, kept = run("plain"), run("keep")
    assert len(plain) > 1000 and kept == plain
