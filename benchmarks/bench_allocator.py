"""Side by side: the same training work with glibc's default allocator settings and with
:func:`pathfer.runtime.memory.keep_freed_memory` (freed blocks reused, not page-faulted
afresh), and with PathNet's validation pass in chunks of 512 (the default) or 64 images.
The last column says whether the variant computed the same numbers as the default (a hash
of the PathNet's validation probabilities and the CNN's final weights).

    .venv/bin/python benchmarks/bench_allocator.py [--rounds 3]

Every measurement is a fresh process (so the allocator starts as a job's does), one torch
thread, the variants interleaved round by round; the table gives the median seconds of
each variant and its ratio to the default. The work: a PathNet on 48 px crops learning a
task (10 tournaments of 10 steps per path, validation fitness on 180 images, 100 finish
steps), and 60 steps of the reference CNN. Makes no assertions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

VARIANTS = {
    "default allocator, eval chunks of 512": {"keep": False, "chunk": 512},
    "keep_freed_memory, eval chunks of 512 (pathfer's jobs)": {"keep": True, "chunk": 512},
    "keep_freed_memory, eval chunks of 64": {"keep": True, "chunk": 64},
}

WORK = r"""
import json, sys, time
import torch
opts = json.loads(sys.argv[1])
if opts["keep"]:
    from pathfer.runtime.memory import keep_freed_memory
    assert keep_freed_memory()
torch.set_num_threads(1)
torch.manual_seed(0)  # the reference CNN's initialisation
from pathfer.models.baselines.reference_cnn import ReferenceCNN
from pathfer.models.pathnet import EvolutionConfig, PathNet, PathNetConfig

g = torch.Generator().manual_seed(0)
x = torch.rand(880, 1, 48, 48, generator=g)
y = torch.randint(0, 6, (880,), generator=g)
ev = EvolutionConfig(generations=10, patience=None, finish_steps=100, finish_patience=100,
                     eval_batch_size=opts["chunk"])
t0 = time.perf_counter()
pn = PathNet(PathNetConfig(), seed=0)
pn.learn_task("A", x[:700], y[:700], 6, evolution=ev, x_val=x[700:], y_val=y[700:])
t_pathnet = time.perf_counter() - t0

model = ReferenceCNN(6, input_size=48)
opt = torch.optim.Adam(model.parameters(), 1e-3)
t0 = time.perf_counter()
for s in range(60):
    i = torch.randint(0, 700, (32,), generator=g)
    loss = torch.nn.functional.cross_entropy(model(x[i]), y[i])
    opt.zero_grad()
    loss.backward()
    opt.step()
t_cnn = time.perf_counter() - t0
import hashlib
h = hashlib.sha256(pn.predict_proba("A", x[700:]).tobytes())
for p in model.parameters():
    h.update(p.detach().numpy().tobytes())
print(json.dumps({"pathnet": t_pathnet, "reference_cnn": t_cnn, "hash": h.hexdigest()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    times: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
    hashes: dict[str, set[str]] = {v: set() for v in VARIANTS}
    for r in range(args.rounds):
        for name, opts in VARIANTS.items():
            out = subprocess.run(
                [sys.executable, "-c", WORK, json.dumps(opts)],
                check=True,
                capture_output=True,
                text=True,
                env={"OMP_NUM_THREADS": "1", **__import__("os").environ},
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            hashes[name].add(result.pop("hash"))
            for k, v in result.items():
                times[name].setdefault(k, []).append(v)
            print(f"round {r + 1}: {name}: {out.stdout.strip()}", file=sys.stderr)
    base = next(iter(VARIANTS))
    print(
        "| variant | PathNet task (s) | ratio | reference CNN, 60 steps (s) | ratio "
        "| same numbers |"
    )
    print("|---|---|---|---|---|---|")
    for name in VARIANTS:
        cells = []
        for work in ("pathnet", "reference_cnn"):
            m = statistics.median(times[name][work])
            cells += [f"{m:.2f}", f"{m / statistics.median(times[base][work]):.2f}"]
        same = "yes" if hashes[name] == hashes[base] and len(hashes[base]) == 1 else "no"
        print(f"| {name} | " + " | ".join(cells) + f" | {same} |")


if __name__ == "__main__":
    main()
