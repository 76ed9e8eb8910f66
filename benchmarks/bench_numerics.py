"""Training steps with subnormal floats computed as they are vs flushed to zero
(``pathfer.models.nn.set_job_numerics``), side by side in one process.

    .venv/bin/python benchmarks/bench_numerics.py --threads 1

Each model first fits a toy task (``pathfer.models.pathnet.toy``) until its outputs are
confident, as a real fine-tuning run's are after a few epochs: the softmax of a confident
output has classes with probabilities below float32's smallest normal number (1.2e-38),
and their gradients carry subnormal values back through every layer, which x86 CPUs
compute in microcode. Then the same steps run from the same state in both modes,
interleaved, and the table gives the median time of a step in each, their ratio, the share
of subnormal values among the gradients the convolutions pass back, and the largest
difference between the two modes' weights after the steps (0: the same numbers).
Prints a table; makes no assertions.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings

import pandas as pd
import torch
import torch.nn.functional as F

from pathfer.models.baselines.mini_xception import MiniXception
from pathfer.models.nn import PlainCNN
from pathfer.models.pathnet import PathNetConfig
from pathfer.models.pathnet.toy import toy_task


def _mini_xception() -> torch.nn.Module:
    from pathfer.use.bundle import default_bundle_path, load_bundle

    model = load_bundle(default_bundle_path()).model
    assert isinstance(model, MiniXception)
    return model.replace_head(6)


MODELS = {
    # name: (builder, input size, learning rate)
    "mini-Xception from FER2013 (64 px)": (_mini_xception, 64, 3e-4),
    "path-sized CNN (48 px)": (lambda: PlainCNN.from_pathnet_config(PathNetConfig(), 6), 48, 1e-3),
}


def _steps(model, opt, x, y, batch: int, steps: int, start: int) -> None:
    for s in range(start, start + steps):
        i = torch.arange(s * batch, (s + 1) * batch) % len(y)
        opt.zero_grad()
        F.cross_entropy(model(x[i]), y[i]).backward()
        opt.step()


def _subnormal_share(model, x, y, batch: int, start: int) -> float:
    """The share of subnormal values among the gradients the convolutions pass back, over
    one step (the model and its optimiser state are not changed)."""
    tiny = torch.finfo(torch.float32).tiny
    count = [0, 0]

    def hook(_mod, grad_in, grad_out):
        for g in (*grad_in, *grad_out):
            if g is not None:
                count[0] += int(((g != 0) & (g.abs() < tiny)).sum())
                count[1] += g.numel()

    m = copy.deepcopy(model)
    convs = [c for c in m.modules() if isinstance(c, torch.nn.Conv2d)]
    handles = [c.register_full_backward_hook(hook) for c in convs]
    i = torch.arange(start * batch, (start + 1) * batch) % len(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the first conv's input needs no gradient
        F.cross_entropy(m(x[i]), y[i]).backward()
    for h in handles:
        h.remove()
    return count[0] / max(count[1], 1)


def bench(name: str, reps: int, steps: int, fit_steps: int, batch: int) -> dict:
    build, size, lr = MODELS[name]
    torch.manual_seed(0)
    x, y = toy_task(256, size=size, n_classes=6, seed=0)
    model = build().train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    torch.set_flush_denormal(False)
    _steps(model, opt, x, y, batch, fit_steps, 0)  # fit: confident outputs
    share = _subnormal_share(model, x, y, batch, fit_steps)
    times: dict[bool, list[float]] = {False: [], True: []}
    after: dict[bool, list[torch.Tensor]] = {}
    for _ in range(reps):
        for flush in (False, True):
            m = copy.deepcopy(model)
            o = torch.optim.Adam(m.parameters(), lr=lr)
            o.load_state_dict(copy.deepcopy(opt.state_dict()))  # load_state_dict keeps the tensors
            torch.set_flush_denormal(flush)
            torch.manual_seed(1)  # the same dropout masks in both modes
            t0 = time.perf_counter()
            _steps(m, o, x, y, batch, steps, fit_steps)
            times[flush].append((time.perf_counter() - t0) / steps)
            after[flush] = [p.detach().clone() for p in m.parameters()]
    torch.set_flush_denormal(False)
    diff = max(float((a - b).abs().max()) for a, b in zip(after[False], after[True], strict=True))
    plain, flushed = (1000 * statistics.median(times[f]) for f in (False, True))
    return {
        "model": name,
        "subnormal conv grads %": f"{100 * share:.3f}",
        "step ms, as is": f"{plain:.0f}",
        "step ms, flushed": f"{flushed:.0f}",
        "as is / flushed": f"{plain / flushed:.2f}",
        "max weight diff": f"{diff:.1e}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions per mode")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per repetition")
    ap.add_argument("--fit-steps", type=int, default=150, help="steps before timing")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    rows = [bench(n, args.reps, args.steps, args.fit_steps, args.batch) for n in MODELS]
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
