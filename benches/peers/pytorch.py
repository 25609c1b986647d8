"""PyTorch CPU timings of the `wgpu-rnn bench` workloads, for the comparison in issue #5.

Same shapes and modes as `wgpu-rnn bench`: f32, one layer, unidirectional, with biases,
zero initial state. fwd = forward over the whole sequence under inference_mode; train =
forward + backward of loss = sum of outputs to all weight gradients (the input does not
require grad). 2 warm-up calls, then --runs timed calls.
Prints `workload mode median_ms min_ms max_ms` per case.

    pip install torch && python3 benches/peers/pytorch.py [--runs 5] [--workload NAME ...]
"""
import argparse
import statistics
import time

import torch

WORKLOADS = {  # name: (cell, B, I, H, T)
    "lstm-b1": ("lstm", 1, 64, 128, 1000),
    "lstm-b64": ("lstm", 64, 256, 256, 100),
    "lstm-b256": ("lstm", 256, 512, 512, 50),
    "gru-b64": ("gru", 64, 256, 256, 100),
    "rnn-b64": ("rnn", 64, 256, 256, 100),
}


def layer(cell, i, h):
    if cell == "lstm":
        return torch.nn.LSTM(i, h)
    if cell == "gru":
        return torch.nn.GRU(i, h)
    return torch.nn.RNN(i, h, nonlinearity="tanh")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", action="append")
    ap.add_argument("--mode", default="both", choices=["fwd", "train", "both"])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    modes = ["fwd", "train"] if args.mode == "both" else [args.mode]
    for name in args.workload or WORKLOADS:
        cell, b, i, h, t = WORKLOADS[name]
        model = layer(cell, i, h)
        x = torch.randn(t, b, i)
        for mode in modes:
            def call():
                if mode == "fwd":
                    with torch.inference_mode():
                        model(x)
                else:
                    model.zero_grad(set_to_none=True)
                    out, _ = model(x)
                    out.sum().backward()
            for _ in range(2):
                call()
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                call()
                times.append((time.perf_counter() - start) * 1e3)
            print(f"{name} {mode} {statistics.median(times):.3f} {min(times):.3f} {max(times):.3f}", flush=True)


if __name__ == "__main__":
    main()
