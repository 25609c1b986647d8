#!/usr/bin/env python3
"""The `wgpu-rnn bench` workloads from Python, next to torch.nn on this machine's CPU in the
same process, alternating calls, medians. Prints one line per workload and mode, and the
binding's overhead per call: a call's wall time minus the time the engine itself reports
(`last_engine_ms`: upload, kernels, readback), i.e. argument checks, float32/contiguity
conversions, copies into and out of numpy, and module bookkeeping.

    make python-bench        # or: python3 benches/python.py [--runs 5] [--workload lstm-b1 ...]
"""
import argparse
import statistics
import time

import numpy as np
import torch

import wgpu_rnn

WORKLOADS = {
    "lstm-b1": (torch.nn.LSTM, 1, 64, 128, 1000),
    "lstm-b64": (torch.nn.LSTM, 64, 256, 256, 100),
    "lstm-b256": (torch.nn.LSTM, 256, 512, 512, 50),
    "gru-b64": (torch.nn.GRU, 64, 256, 256, 100),
    "rnn-b64": (torch.nn.RNN, 64, 256, 256, 100),
}


def timed(f):
    s = time.perf_counter()
    f()
    return (time.perf_counter() - s) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", action="append")
    a = ap.parse_args()
    print(f"# adapter: {wgpu_rnn.info()['description']}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print("# workload mode engine_ms torch_ms engine/torch binding_overhead_ms (of the call)")
    for name in a.workload or ["lstm-b1", "lstm-b64"]:
        cls, b, i, h, t = WORKLOADS[name]
        torch.manual_seed(0)
        ref = cls(i, h)
        ours = wgpu_rnn.from_torch(ref)
        x = torch.randn(t, b, i)
        xn = x.numpy()
        dy = torch.ones(t, b, h)
        # forward: numpy in, numpy out (inference); torch.nn under no_grad
        ours(xn), ref(x)  # warm-up (plans, pipelines)
        fo, ft, over = [], [], []
        for _ in range(a.runs):
            fo.append(timed(lambda: ours(xn)))
            over.append(fo[-1] - ours._model.last_engine_ms)
            with torch.no_grad():
                ft.append(timed(lambda: ref(x)))
        report(name, "fwd", fo, ft, over)
        # train: forward and backward through autograd (torch tensors, grads to x and params)
        engine = [0.0]

        def step_ours():
            xs = x.clone().requires_grad_()
            out, _ = ours(xs)
            engine[0] = ours._model.last_engine_ms
            (out * dy).sum().backward()
            engine[0] += ours._model.last_engine_ms

        def step_torch():
            xs = x.clone().requires_grad_()
            out, _ = ref(xs)
            (out * dy).sum().backward()

        step_ours(), step_torch()
        to, tt, over = [], [], []
        for _ in range(a.runs):
            to.append(timed(step_ours))
            over.append(to[-1] - engine[0])
            tt.append(timed(step_torch))
        report(name, "train", to, tt, over,
               note="the engine runs the forward twice: once for the outputs, once in backward")


def report(name, mode, ours, theirs, over, note=""):
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"{name} {mode} {mo:.2f} {mt:.2f} {mt / mo:.3f}x {statistics.median(over):.2f}"
          + (f"  # {note}" if note else ""))


if __name__ == "__main__":
    main()
