"""The layout the README's repository map promises: PyAV is imported in filmcolor/video/
only, and the light entry points import no heavy library."""

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "filmcolor"


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_pyav_is_imported_in_the_video_package_only():
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "av" in set(_imported_modules(p)))
    assert users and all(u.startswith("video/") for u in users), users


def test_asking_whether_a_path_is_a_film_or_naming_a_model_imports_no_heavy_library():
    code = ("import sys\n"
            "from filmcolor.video import is_video_path\n"
            "from filmcolor.models import MODELS, DEFAULT_MODEL\n"
            "assert is_video_path('a.mkv') and DEFAULT_MODEL in MODELS\n"
            "print(sorted(m for m in ('numpy', 'cv2', 'av', 'keras') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]", out


def test_every_script_the_readme_quotes_has_a_smoke_run():
    """A README figure's script runs in CI at a tiny size (tests/test_scripts_*.py, or the
    test of what it shows), so a changed signature breaks CI, not the README."""
    repo = PACKAGE.parent
    quoted = set(re.findall(r"scripts/([a-z_]+\.(?:py|sh))", (repo / "README.md").read_text()))
    tests = "".join(p.read_text(encoding="utf-8") for p in (repo / "tests").glob("test_*.py"))
    named = re.findall(r'run_script\("([a-z_]+(?:\.py|\.sh)?)"', tests)
    run = {n if n.endswith((".py", ".sh")) else f"{n}.py" for n in named}
    run |= set(re.findall(r'"scripts" / "([a-z_]+\.py)"', tests))  # test_report.py's
    missing = sorted(quoted - run)
    assert quoted and not missing, missing


def test_every_shipped_model_file_is_installed_by_a_non_editable_install():
    """setup.cfg's data_files put weights/ under share/filmcolor/weights, where
    models.shipped_weights looks outside a checkout: every registered file must be listed."""
    import configparser

    from filmcolor.models import MODELS
    from filmcolor.models.ensemble import read_manifest

    cfg = configparser.ConfigParser()
    cfg.read(PACKAGE.parent / "setup.cfg")
    listed = {Path(p.strip()).name
              for p in cfg["options.data_files"]["share/filmcolor/weights"].split(",")}
    shipped = {spec.file for spec in MODELS.values()}
    members = {m.name for f in shipped if f.endswith(".json")
               for m in read_manifest(PACKAGE.parent / "weights" / f)[0]}
    assert members and shipped | members <= listed, listed
