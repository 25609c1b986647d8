"""`make python-bench` (benches/python.py) as a user runs it, at its smallest: one timed run
of lstm-b1, both modes, each line with positive timings and an overhead below the call."""
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "benches", "python.py")


def test_python_bench_prints_timings_and_the_binding_overhead():
    out = subprocess.run([sys.executable, SCRIPT, "--runs", "1", "--workload", "lstm-b1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [l.split() for l in out.stdout.splitlines() if not l.startswith("#")]
    assert [r[:2] for r in rows] == [["lstm-b1", "fwd"], ["lstm-b1", "train"]], out.stdout
    for r in rows:
        ours, theirs, overhead = float(r[2]), float(r[3]), float(r[5])
        assert ours > 0 and theirs > 0 and 0 <= overhead < ours, r
