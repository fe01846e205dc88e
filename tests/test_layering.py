"""Layers import only downwards: data -> face -> motion -> models -> training/evaluation -> cli."""

import ast
from pathlib import Path

import merkit

ROOT = Path(merkit.__file__).parent
# Rank of each top-level subpackage; a module may import ranks <= its own. Private helpers are rank 0.
RANK = {
    "errors": 0, "_io": 0, "_names": 0, "_checks": 0, "_parallel": 0, "_numerics": 0, "cache": 0, "utils": 0,
    "data": 1, "synth": 1,
    "face": 2,
    "motion": 3,
    "models": 4,
    "evaluation": 5, "training": 6,
    "reports": 7, "cli": 8, "__main__": 8, "__init__": 8,
}


def _layer(module_path: Path) -> str:
    rel = module_path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def test_no_upward_imports():
    problems = []
    for path in ROOT.rglob("*.py"):
        layer = _layer(path)
        rank = RANK.get(layer)
        assert rank is not None, f"{path}: subpackage {layer!r} has no rank in tests/test_layering.py"
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "merkit" or len(parts) < 2:
                    continue
                target = RANK.get(parts[1])
                assert target is not None, f"{path}: imports unknown merkit subpackage {name!r}"
                if target > rank:
                    problems.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}")
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_ci_runs_the_readme_test_command():
    repo = ROOT.parent.parent
    readme = (repo / "README.md").read_text().splitlines()
    fence = readme.index("```bash")
    setup_and_run, setup_and_test = readme[fence + 1], readme[fence + 2]
    assert "merkit" in setup_and_run
    assert "pytest" in setup_and_test
    assert setup_and_test in (repo / ".ci" / "run").read_text()
