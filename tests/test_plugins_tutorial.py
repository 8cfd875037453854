"""docs/plugins.md's tutorial runs as written: the package is built from the page's code blocks
headed by a file name, installed with pip into a fresh virtual environment that sees Jornada,
and its own tests run there with the command the page gives; Jornada then finds the plugin
through its entry point. The page can no longer drift from code that works."""

from __future__ import annotations

import re
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
FILES = {
    "pyproject.toml",
    "acme_lifecycle/__init__.py",
    "acme_lifecycle/model.py",
    "acme_lifecycle/criteria.py",
    "tests/test_acme_model.py",
}
# "`path`:" (or "`path`, with ...:") on its own line, a blank line, then the fenced block.
BLOCK = re.compile(r"^`([\w/-]+\.\w+)`[^\n]*:\n\n```\w*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def tutorial_files() -> dict[str, str]:
    found: dict[str, str] = {}
    for path, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert path not in found, f"{path} is given twice"
        found[path] = body
    return found


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_page_gives_every_file_of_the_package_whole() -> None:
    assert set(tutorial_files()) == FILES


def test_the_tutorial_package_installs_in_a_fresh_venv_and_its_tests_pass(tmp_path: Path) -> None:
    package = tmp_path / "acme-subscriptions"
    for path, body in tutorial_files().items():
        target = package / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv), cwd=tmp_path)
    python = venv / "bin" / "python"
    # The fresh environment sees Jornada as installed (its distribution, its dependencies and
    # pytest), the way a partner's environment has Jornada installed in it.
    host = next(p for p in site.getsitepackages() if p.endswith("site-packages"))
    own = run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    Path(own.stdout.strip(), "jornada-host.pth").write_text(f"import site; site.addsitedir({host!r})\n")

    run(str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(package), cwd=tmp_path)
    tested = run(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=package)
    assert "5 passed" in tested.stdout, tested.stdout

    loaded = run(
        str(python),
        "-c",
        "from plugins.manager import load_plugins; r = load_plugins(); "
        "print(r.models['acme-subscriptions'].plugin.distribution, [p.name for p in r.problems])",
        cwd=tmp_path,
    )
    assert loaded.stdout.split() == ["jornada-acme-subscriptions", "[]"]
