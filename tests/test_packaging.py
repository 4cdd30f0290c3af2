"""The wheel, not the checkout: pyproject's package list matches the tree, a wheel built from the
sources holds every module, the prompts and the styles, and memcli installed from that wheel (in a
fresh virtualenv where the checkout and its editable install are out of reach) runs.

The wheel is built offline with the venv's own setuptools (`pip wheel --no-build-isolation
--no-index`, setuptools from the dev extra), from a copy of the sources in a temporary directory,
so the checkout gets no build/ or egg-info and a stale build/ cannot leak into the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SOURCES = ("pyproject.toml", "README.md", "memcli", "prompts")
NOTE = "My dentist is Dr. Alvarez, her practice is on Pine Street"


def packages_in(root: Path) -> set[str]:
    return {".".join(d.relative_to(root).parts) for d in (root / "memcli").rglob("*")
            if d.is_dir() and (d / "__init__.py").exists()} | {"memcli"}


def test_package_list_matches_the_tree():
    listed = PYPROJECT["tool"]["setuptools"]["packages"]
    assert len(listed) == len(set(listed)), "a package is listed twice"
    expected = packages_in(ROOT) | {"memcli.prompts"}
    missing, extra = sorted(expected - set(listed)), sorted(set(listed) - expected)
    assert not missing and not extra, f"pyproject's packages: add {missing}, remove {extra}"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {"memcli.prompts": "prompts"}
    assert (ROOT / "prompts" / "__init__.py").exists()


def test_no_module_outside_a_package():
    """A folder of .py files without __init__.py would be left out of the wheel."""
    loose = sorted(str(d.relative_to(ROOT)) for d in (ROOT / "memcli").rglob("*")
                   if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
                   and not (d / "__init__.py").exists())
    assert not loose, f"add an __init__.py (and a pyproject packages entry) to {loose}"


# ---- a real wheel --------------------------------------------------------------------------------

def run(cmd, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    shown = " ".join(map(str, cmd))
    assert out.returncode == 0, f"{shown} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", out, source])
    (whl,) = out.glob("memcli-*.whl")
    return whl


def test_wheel_holds_every_module_the_prompts_and_the_styles(wheel, source):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(source).as_posix() for p in (source / "memcli").rglob("*.py")}
    prompts = {f"memcli/prompts/{p.name}" for p in (source / "prompts").glob("*.md")}
    styles = {p.relative_to(source).as_posix() for p in (source / "memcli" / "tui").glob("*.tcss")}
    assert prompts >= {"memcli/prompts/ask.md"} and styles
    missing = sorted((modules | prompts | styles | {"memcli/prompts/__init__.py"}) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "benchmarks/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "memcli = memcli.main:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with memcli installed from the wheel. Its dependencies come from this
    venv's site-packages through a path line in a .pth file: that adds the directory but does not
    run the .pth files in it, so the editable install's finder (which maps memcli to the checkout)
    stays off."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", "--clear", venv])
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    (site / "memcli_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q",
         wheel])
    return venv


def memcli_env(workdir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MEMCLI_PROMPTS", "MEMCLI_CONFIG", "VIRTUAL_ENV")}
    env.update(MEMCLI_HOME=str(workdir / "home"), MEMCLI_EMBEDDER="hash", MEMCLI_LLM="fake",
               HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


@pytest.fixture
def workdir(tmp_path) -> Path:
    assert ROOT not in tmp_path.parents
    return tmp_path


def test_installed_copy_is_the_one_running(installed, workdir):
    code = ("import sys, memcli, memcli.main\n"
            "from memcli.services import prompts\n"
            "print(memcli.__file__); print(prompts.prompt_dir())\n"
            "print(any('editable' in m for m in sys.modules)); print(len(prompts.load('ask')))\n")
    out = run([installed / "bin" / "python", "-c", code], cwd=workdir, env=memcli_env(workdir))
    print(out.stdout)
    file, prompt_dir, editable, ask_chars = out.stdout.split("\n")[:4]
    assert Path(file).is_relative_to(installed) and not Path(file).is_relative_to(ROOT)
    assert Path(prompt_dir).is_relative_to(installed) and (Path(prompt_dir) / "ask.md").exists()
    assert editable == "False" and int(ask_chars) > 0
    script = (installed / "bin" / "memcli").read_text().splitlines()[0]
    assert script == f"#!{installed / 'bin' / 'python'}"


def test_installed_commands_work(installed, workdir):
    def memcli(*args, **env):
        return run([installed / "bin" / "memcli", *args], cwd=workdir, env=memcli_env(workdir, **env))

    # --no-digest: the note itself is what ask should cite first here; `memcli digest` runs below
    assert json.loads(memcli("add", NOTE, "--date", "2024-02-10", "--no-digest",
                             "--json").stdout)["id"]
    ans = json.loads(memcli("ask", "who is my dentist?", "--no-llm", "--json").stdout)
    assert ans["citations"] and ans["citations"][0]["text"].startswith("My dentist")
    # with a model (the fake one) ask renders prompts/ask.md: a missing prompt is an error
    ans = json.loads(memcli("ask", "who is my dentist?", "--json").stdout)
    assert not ans["abstained"] and ans["citations"]
    memcli("digest", "--no-llm")
    assert "--resume" in memcli("chat", "--help").stdout


@pytest.mark.integration
def test_installed_ask_with_the_bundled_model(installed, workdir):
    # the bundled model answers by default with the extractive answer (no model loaded);
    # `[ask] answer = "generate"` makes the installed copy load and run the bundled GGUF
    config = workdir / "config.toml"
    config.write_text('[ask]\nanswer = "generate"\n', encoding="utf-8")

    def memcli(*args, **env_extra):
        env = memcli_env(workdir, MEMCLI_LLM="llama", **env_extra)
        del env["MEMCLI_EMBEDDER"]  # the product default, MiniLM
        return run([installed / "bin" / "memcli", *args], cwd=workdir, env=env)

    memcli("add", NOTE, "--date", "2024-02-10", "--no-digest")
    shipped = json.loads(memcli("ask", "who is my dentist?", "--json").stdout)
    assert shipped["model"] is None and not shipped["abstained"]
    assert shipped["citations"][0]["text"].startswith("My dentist")
    ans = json.loads(memcli("ask", "who is my dentist?", "--max-tokens", "16", "--json",
                            MEMCLI_CONFIG=str(config)).stdout)
    assert ans["model"].endswith(".gguf") and not ans["abstained"] and ans["answer"].strip()
    assert ans["citations"][0]["text"].startswith("My dentist")
