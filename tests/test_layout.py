"""The package's shape as the step contract states it: only the runner imports step modules, the board side
imports nothing of the build, and every config field a build depends on is declared by the step that reads it."""
import ast
from dataclasses import fields, replace
from pathlib import Path

from flow.build.config import BuildConfig
from flow.build.runner import HOW_NOT_WHAT, first_reader
from flow.build.steps import STEPS

FLOW = Path(__file__).resolve().parents[1] / "flow"
STEP_PACKAGE = "flow.build.steps"
# who may import a step module: the runner, and the step list itself
STEP_IMPORTERS = {"flow.build.runner", "flow.build.steps"}
# what the board-side package may import from flow
BOARD_SIDE_ALLOWED = ("flow.deploy", "flow.errors", "flow.paths")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Absolute names of the flow modules `path` imports (relative imports resolved; `from X import name` counts
    X.name too, since the name may be a submodule)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {module for module in found if module.split(".")[0] == root.name}


def layout_violations(root: Path) -> list[str]:
    violations = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        imports = imported_modules(path, root)
        steps = sorted(m for m in imports if m.startswith(STEP_PACKAGE + ".") or m == STEP_PACKAGE)
        if steps and name not in STEP_IMPORTERS:
            violations.append(f"{name} imports step module(s) {steps}")
        if name.startswith(f"{root.name}.deploy"):
            foreign = sorted(m for m in imports if not m.startswith(BOARD_SIDE_ALLOWED))
            if foreign:
                violations.append(f"{name} (board side) imports {foreign}")
    return violations


def test_only_the_runner_imports_steps_and_the_board_side_imports_no_build_code():
    assert layout_violations(FLOW) == []


def test_the_layout_check_finds_a_step_imported_elsewhere_and_a_board_module_importing_the_build(tmp_path):
    root = tmp_path / "flow"
    for folder in ("build/steps", "deploy"):
        (root / folder).mkdir(parents=True)
    for init in ("", "build", "build/steps", "deploy"):
        (root / init / "__init__.py").write_text("")
    (root / "build" / "steps" / "csim.py").write_text("from .hls4ml import load_hls_model\n")
    (root / "build" / "steps" / "hls4ml.py").write_text("")
    (root / "deploy" / "overlay.py").write_text("from ..build.steps.csim import compile_and_predict\n")
    assert layout_violations(root) == [
        "flow.build.steps.csim imports step module(s) ['flow.build.steps.hls4ml', 'flow.build.steps.hls4ml.load_hls_model']",
        "flow.deploy.overlay imports step module(s) ['flow.build.steps.csim', "
        "'flow.build.steps.csim.compile_and_predict']",
        "flow.deploy.overlay (board side) imports ['flow.build.steps.csim', 'flow.build.steps.csim.compile_and_predict']",
    ]


def undeclared_fields(steps) -> list[str]:
    """BuildConfig fields no step reads and the fingerprint does not leave out: a change to one would not stop
    --from-step from keeping a step built under the old value."""
    read = {name for step in steps for name in step.reads}
    return [f.name for f in fields(BuildConfig) if f.name not in read and f.name not in HOW_NOT_WHAT]


def test_every_config_field_is_read_by_a_declared_step():
    assert undeclared_fields(STEPS) == []
    without_csim_reads = [replace(step, reads=()) if step.name == "csim" else step for step in STEPS]
    assert undeclared_fields(without_csim_reads) == ["data_dir", "n_samples", "seed", "input_range"]


def test_first_readers_come_from_the_declarations():
    assert {name: first_reader(name) for name in ("model", "board", "sparse", "n_samples", "bitstream", "out")} == {
        "model": "export", "board": "hls4ml", "sparse": "hls4ml", "n_samples": "csim", "bitstream": "bitstream",
        "out": None}
    assert len({step.name for step in STEPS}) == len(STEPS)


def test_every_module_imports():
    import importlib
    import pkgutil

    import flow

    names = [m.name for m in pkgutil.walk_packages(flow.__path__, "flow.") if m.name != "flow.__main__"]
    for name in names:
        importlib.import_module(name)
    assert "flow.build.steps.estimate_after_synth" in names and "flow.hls4ml.sparse_templates" in names
