"""Only the public interfaces of the libraries the project depends on are used.

A private module or attribute (``sklearn.utils._param_validation``, ``torch._C``...)
may change shape in any release without notice; this test fails as soon as the
project's code reaches into one, naming the file and line.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("blackbox_opt", "problems", "bench")
THIRD_PARTY = {
    "torch",
    "numpy",
    "scipy",
    "sklearn",
    "cma",
    "nevergrad",
    "mitsuba",
    "drjit",
    "pandas",
    "seaborn",
    "matplotlib",
    "tqdm",
    "asv",
    "pyarrow",
}


def _private(parts: list[str]) -> bool:
    return any(p.startswith("_") and not (p.startswith("__") and p.endswith("__")) for p in parts)


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases: dict[str, str] = {}  # local name -> third-party module path
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in THIRD_PARTY:
                    aliases[alias.asname or parts[0]] = alias.name if alias.asname else parts[0]
                    if _private(parts):
                        found.append(f"{path}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] in THIRD_PARTY:
                names = [a.name for a in node.names]
                if _private(parts) or _private(names):
                    found.append(f"{path}:{node.lineno}: from {node.module} import {names}")
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain, value = [node.attr], node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases and _private(chain):
                dotted = ".".join([value.id, *reversed(chain)])
                found.append(f"{path}:{node.lineno}: {dotted}")
    return found


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_no_private_interface_of_a_dependency_is_used():
    violations = [v for path in _sources() for v in _violations(path)]
    assert not violations, "private interfaces used:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    "source",
    [
        "from sklearn.utils._param_validation import Interval",
        "import torch._dynamo",
        "import torch\ntorch._C._get_tracing_state()",
        "from torch import _C",
        "import numpy as np\nnp.random._generator",
    ],
)
def test_the_audit_finds_private_uses(tmp_path, source):
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert _violations(path)


def test_the_audit_allows_public_and_dunder_names(tmp_path):
    path = tmp_path / "module.py"
    path.write_text(
        "import cma\nimport torch\nprint(cma.__version__, torch.optim.Adam)\n"
        "from nevergrad import optimizers\n",
        encoding="utf-8",
    )
    assert _violations(path) == []
