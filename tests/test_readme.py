import subprocess
import sys

from conftest import REPO


def test_readme_results_table_is_generated_from_bench_results():
    check = subprocess.run([sys.executable, str(REPO / "bench" / "make_table.py"), "--check"], capture_output=True)
    assert check.returncode == 0, "README results table is stale: run python bench/make_table.py"


def test_readme_test_command_is_the_ci_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] in readme and ci[-1] == "python -m pytest -q"
