"""Methods of installed packages: found through an entry-point group, never imported early."""

import os
import subprocess
import sys
import textwrap

MODULE = """
from blackbox_opt import RandomSearch, register_method


class Local(RandomSearch):
    '''Random search, as a third-party method.'''

    name = "es11"


register_method("es11", Local)  # self-registration on import, as packages do
"""

SCRIPT = """
import sys

from blackbox_opt import list_methods, minimize

assert "es11_pkg" not in sys.modules  # nothing imports it until it is used
names = [row["name"] for row in list_methods()]  # the listing loads it to describe it
assert "es11" in names, names
res = minimize(lambda x: float((x**2).sum()), method="es11", x0=[0.5, 0.5],
               bounds=(-1, 1), budget=64, random_state=0, verbose=False)
assert res.nfev == 64
import es11_pkg  # registers the same class again: no collision

assert "es11" in [row["name"] for row in list_methods()]
print("found", res.method)
"""


def _install(tmp_path):
    (tmp_path / "es11_pkg.py").write_text(textwrap.dedent(MODULE))
    dist = tmp_path / "es11_pkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: es11-pkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[blackbox_opt.methods]\nes11 = es11_pkg:Local\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    return env


def _run(args, env):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_an_installed_method_is_listed_and_used_without_being_imported(tmp_path):
    env = _install(tmp_path)
    done = _run(["-c", SCRIPT], env)
    assert done.returncode == 0, done.stderr
    assert "found es11" in done.stdout


def test_the_command_line_sees_installed_methods_and_module_paths(tmp_path):
    env = _install(tmp_path)
    listing = _run(["-m", "blackbox_opt", "list"], env)
    assert listing.returncode == 0 and "es11" in listing.stdout
    for method in ("es11", "es11_pkg:Local"):
        run = _run(
            ["-m", "blackbox_opt", "run", "rosenbrock", "--method", method, "-b", "32", "-q"],
            env,
        )
        assert run.returncode == 0, run.stderr
    bad = _run(["-m", "blackbox_opt", "run", "rosenbrock", "--method", "math:sqrt", "-q"], env)
    assert bad.returncode == 2 and "not a BaseOptimizer subclass" in bad.stderr
