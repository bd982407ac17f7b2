"""The README's Python example runs and shows what its comments say."""

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_its_claims_hold(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README has no Python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    stuck, moved, rect = namespace["stuck"], namespace["moved"], namespace["rect"]
    assert torch.allclose(stuck.x_last, rect.x0, atol=1 / 255)
    assert torch.allclose(moved.x_last, rect.x_opt, atol=1e-3)
    assert "param_error" in capsys.readouterr().out
