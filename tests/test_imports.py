"""The package's modules import one way, layer by layer (docs/development.md, "Code layout"), the metrics load
neither torch nor matplotlib, and the workflow plans without torch."""

import ast
import re
import subprocess
import sys

from conftest import REPO

PACKAGE = REPO / "src" / "pvsflow"
LAYERS = [
    {"layout", "settings", "voxel_order", "io", "freesurfer", "jobs", "methods", "provenance"},
    {"cohort", "cohort_check", "label_maps", "regions", "crop_records", "quality", "extraction", "synthetic", "plan"},
    {
        "models",
        "model_files",
        "objectives",
        "devices",
        "augmentation",
        "datasets",
        "checkpoints",
        "training_check",
        "training",
    },
    {"attention", "inference"},
    {"detection"},
    {"matching", "froc", "agreement", "evaluation", "chance", "comparison"},
    {
        "reports",
        "figures",
        "cohort_tables",
        "scan_maps",
        "qc_images",
        "scan_outputs",
        "qc_page",
        "mnist",
        "mnist_study",
    },
    {"cli"},
]
LAYER = {module: i for i, modules in enumerate(LAYERS) for module in modules}
TORCH_LAYERS = {2, 3}


def imports(module: str) -> set[str]:
    """Top-level names of what ``module`` imports, pvsflow modules by their own name."""
    names = set()
    for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "pvsflow":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names.add(parts[1] if parts[0] == "pvsflow" else parts[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def test_every_module_has_a_layer():
    assert set(LAYER) == {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}


def test_imports_flow_one_way():
    for module, layer in LAYER.items():
        for imported in imports(module) & set(LAYER):
            assert LAYER[imported] <= layer, f"{module} (layer {layer}) imports {imported} (layer {LAYER[imported]})"


def test_torch_stays_in_the_network_layers():
    for module, layer in LAYER.items():
        uses_torch = "torch" in imports(module)
        assert not uses_torch or layer in TORCH_LAYERS or module == "mnist_study", f"{module} imports torch"


def test_the_metrics_import_without_torch_or_matplotlib():
    code = (
        "import sys, pvsflow.evaluation, pvsflow.comparison, pvsflow.chance, pvsflow.detection, pvsflow.settings; "
        "print(sorted({'torch', 'matplotlib'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_workflow_plans_without_importing_torch():
    """Importing torch costs about a CPU second on every start of the workflow."""
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    found = re.findall(r"^from (pvsflow[.\w]*) import (\w+)", rules, flags=re.MULTILINE)
    modules = sorted({f"pvsflow.{name}" if module == "pvsflow" else module for module, name in found})
    assert "pvsflow.methods" in modules
    code = f"import sys, {', '.join(modules)}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False", modules
