"""Layers import only downwards, no module is in an import cycle, every import inside a function says why,
and CI runs the README's test command."""

from pathlib import Path

import merkit
from tests._layering import RANK, bare_function_imports, cycles, unranked, upward_imports

SRC = Path(merkit.__file__).parent.parent


def test_every_module_has_a_rank():
    assert unranked(SRC) == [], "modules without a rank in tests/_layering.py RANK"


def test_no_upward_imports():
    problems = upward_imports(SRC)
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_no_import_cycles():
    found = cycles(SRC)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_every_import_inside_a_function_says_why():
    problems = bare_function_imports(SRC)
    assert not problems, ("imports inside functions without a reason comment (on the line, or a comment line "
                          "above the block; e.g. '# deferred: pulls torch'), or move them to module level:\n"
                          + "\n".join(problems))


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"merkit/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checks_find_a_planted_cycle_inside_a_package(tmp_path):
    root = _plant(tmp_path, {
        "merkit/training/__init__.py": "",
        "merkit/training/a.py": "from merkit.training import b\n",
        "merkit/training/b.py": "def f():\n    from merkit.training.a import g  # in a function: still an edge\n",
    })
    assert cycles(root) == [["merkit.training.a", "merkit.training.b"]]


def test_the_checks_find_planted_upward_imports(tmp_path):
    root = _plant(tmp_path, {
        "merkit/data/__init__.py": "",
        "merkit/data/apex.py": "import importlib\nP = importlib.import_module('merkit.motion.keyframes')\n",
        "merkit/data/names.py": "from merkit import __version__\n",
        "merkit/data/plugins.py": "import importlib\nPROVIDERS = {'peak': 'merkit.motion.keyframes'}\n",
        "merkit/motion/__init__.py": "",
        "merkit/motion/keyframes.py": "from ..experiments import run\n",
        "merkit/experiments/__init__.py": "",
        "merkit/experiments/run.py": "",
    })
    problems = upward_imports(root)
    assert any(p.startswith("merkit.data.apex (rank 1) imports merkit.motion.keyframes (rank 3)") for p in problems)
    assert any(p.startswith("merkit.data.names (rank 1) imports merkit (rank 9)") for p in problems)
    assert any(p.startswith("merkit.motion.keyframes (rank 3) imports merkit.experiments.run") for p in problems)
    assert any(p.startswith("merkit.data.plugins (rank 1) imports merkit.motion.keyframes") for p in problems)
    assert len(problems) == 4


def test_the_checks_find_planted_function_imports_without_a_reason(tmp_path):
    root = _plant(tmp_path, {
        "merkit/motion/__init__.py": "",
        "merkit/motion/flow.py": (
            "def bare():\n"
            "    from merkit.errors import ConfigError\n"                      # line 2: no comment at all
            "def noqa_only():\n"
            "    import cv2  # noqa: F401\n"                                    # line 4: a directive, no reason
            "def said_why():\n"
            "    import cv2  # deferred: cv2 is heavy\n"
            "def block():\n"
            "    # deferred: the experiment layer loads torch\n"
            "    from merkit.experiments.config import load_config\n"
            "    from merkit.experiments.run import run_experiment\n"
            "def optional():\n"
            "    try:\n"
            "        import ray\n"
            "    except ImportError:\n"
            "        ray = None\n"
            "def after_code():\n"
            "    import math  # deferred: see below\n"
            "    x = 1\n"
            "    import json\n"                                                  # line 19: the block ended at x = 1
            "    text = '# not a comment'; import os\n"                          # line 20: '#' inside a string
            "import numpy\n"                                                     # module level: not asked
        ),
    })
    assert bare_function_imports(root) == [
        "merkit.motion.flow, line 2: from merkit.errors import ConfigError",
        "merkit.motion.flow, line 4: import cv2  # noqa: F401",
        "merkit.motion.flow, line 19: import json",
        "merkit.motion.flow, line 20: text = '# not a comment'; import os",
    ]


def test_the_checks_find_a_module_without_a_rank(tmp_path):
    root = _plant(tmp_path, {"merkit/reports/__init__.py": "", "merkit/reports/html.py": ""})
    assert unranked(root) == ["merkit.reports", "merkit.reports.html"]
    assert "reports" not in RANK


def test_ci_runs_the_readme_test_command():
    repo = SRC.parent
    readme = (repo / "README.md").read_text().splitlines()
    fence = readme.index("```bash")
    setup_and_run, setup_and_test = readme[fence + 1], readme[fence + 2]
    assert "merkit" in setup_and_run
    assert "pytest" in setup_and_test
    assert setup_and_test in (repo / ".ci" / "run").read_text()
