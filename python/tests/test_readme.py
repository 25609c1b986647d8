"""The README's Python snippet, run as a user would (it must stay true)."""
import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_python_snippet_runs():
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "no ```python block in the README"
    scope = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    lstm, x, out = scope["lstm"], scope["x"], scope["out"]
    assert tuple(out.shape) == (4, 10, 16)
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in lstm.parameters())
    # the snippet's model matches its torch twin
    ref = scope["ref"]
    want, _ = ref(x.detach())
    assert (out.detach() - want.detach()).abs().max() < 1e-4
