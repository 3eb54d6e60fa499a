"""The package's subpackages import one way, layer by layer (docs/development.md, "Code layout"), the metrics load
neither torch nor matplotlib, and the workflow plans without torch."""

import ast
import re
import subprocess
import sys
from importlib.util import resolve_name
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "pvsflow"
# pvsflow's subpackages (and its one top-level module), lowest first: a module imports only from its own
# subpackage and those before it. The package's root (``pvsflow.__version__``) is below them all.
LAYERS = [
    "io",
    "regions",
    "cohort",
    "space",
    "nets",
    "attention",
    "detect",
    "stats",
    "report",
    "mnist",
    "pipeline",
    "cli",
]
TORCH_LAYERS = {"nets", "attention", "mnist"}


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name below ``pvsflow`` (``io.layout``, ``cli``)."""
    return {".".join(path.relative_to(PACKAGE).with_suffix("").parts): path for path in PACKAGE.rglob("*.py")}


def imports(module: str, path: Path) -> set[str]:
    """Full names of what ``module`` imports, relative imports resolved (``pvsflow.io.layout``, ``torch.nn``)."""
    package = f"pvsflow.{module}".rpartition(".")[0]  # what relative imports start from
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package)
            names |= {f"{base}.{alias.name}" for alias in node.names} if base == "pvsflow" else {base}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


def layer(module: str) -> str:
    """The subpackage a module (``io.layout``) belongs to, the module itself at the top (``cli``)."""
    return module.split(".")[0]


def imported_layers(module: str, path: Path) -> set[str]:
    return {layer(name.removeprefix("pvsflow.")) for name in imports(module, path) if name.startswith("pvsflow.")}


def test_every_module_has_a_layer():
    assert {layer(module) for module in modules()} - {"__init__"} == set(LAYERS)


def test_imports_flow_one_way():
    for module, path in modules().items():
        for imported in imported_layers(module, path) - {"__version__"}:
            assert LAYERS.index(imported) <= LAYERS.index(layer(module)), f"{module} imports from {imported}"


def test_torch_stays_in_the_network_layers():
    for module, path in modules().items():
        uses_torch = any(name.split(".")[0] == "torch" for name in imports(module, path))
        assert not uses_torch or layer(module) in TORCH_LAYERS, f"{module} imports torch"


def test_the_metrics_import_without_torch_or_matplotlib():
    metrics = ["stats.evaluation", "stats.comparison", "stats.chance", "detect.candidates", "io.settings"]
    code = (
        f"import sys, {', '.join(f'pvsflow.{module}' for module in metrics)}; "
        "print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_workflow_plans_without_importing_torch():
    """Importing torch costs about a CPU second on every start of the workflow."""
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    found = re.findall(r"^from (pvsflow[.\w]*) import (\w+)", rules, flags=re.MULTILINE)
    modules = sorted({f"pvsflow.{name}" if module == "pvsflow" else module for module, name in found})
    assert "pvsflow.attention.catalogue" in modules
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", modules


def script_modules(script: Path) -> set[str]:
    """The pvsflow modules a workflow script imports, below ``pvsflow`` (``io.layout``), but its log's."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pvsflow."):
            below = node.module.removeprefix("pvsflow.")
            found |= {f"{below}.{alias.name}" for alias in node.names} if "." not in below else {below}
    return found - {"pipeline.jobs"}


def test_the_rule_table_names_each_scripts_modules():
    """docs/development.md's table of rules: each rule's file, script and the modules the script imports."""
    rules = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for rule, body in re.findall(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule |\Z)", path.read_text(), re.M | re.S):
            script = re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body).group(1)
            rules[rule] = (path.name, script, script_modules(REPO / "workflow" / "scripts" / script))
    table = re.findall(
        r"^\| `(\w+)` \((\w+\.smk)\) \| `(\w+\.py)` \| (.*) \|$", (REPO / "docs" / "development.md").read_text(), re.M
    )
    documented = {rule: (smk, script, set(re.findall(r"`([\w.]+)`", modules))) for rule, smk, script, modules in table}
    assert documented == rules
