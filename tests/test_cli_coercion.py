"""memcli.cli.coercion: plain option values converted without pydantic, exactly as typer would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest
import typer
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param, resolve_type_descriptor
from typer.models import OptionInfo

from memcli.cli import coercion


def _both(annotation, info, value):
    """(typer's own result, the lazy converter's) for one value, or the error message of each."""
    descriptor = resolve_type_descriptor(annotation=annotation, parameter_info=info)
    from typer import core

    assert coercion.install() and core.build_runtime_param is not build_runtime_param
    out = []
    for build in (build_runtime_param, core.build_runtime_param):
        param = typer.core.TyperOption(param_decls=["--x"], type_descriptor=descriptor)
        try:
            out.append(build(descriptor).coerce(value, param=param, ctx=None))
        except BadParameter as exc:
            out.append(("error", exc.message))
    return out


@pytest.mark.parametrize("annotation,info,value", [
    (str, OptionInfo(), "hello"),
    (str, OptionInfo(), ""),
    (Optional[str], OptionInfo(), None),
    (int, OptionInfo(), "10"),
    (int, OptionInfo(), "-3"),
    (int, OptionInfo(), "007"),
    (int, OptionInfo(), "ten"),           # typer's own error message
    (int, OptionInfo(), "1.5"),
    (int, OptionInfo(min=1, max=5), "9"),  # constrained numbers stay typer's
    (int, OptionInfo(min=1, max=5), "3"),
    (Optional[int], OptionInfo(), None),
    (float, OptionInfo(), "0.25"),
    (bool, OptionInfo(), True),
    (List[str], OptionInfo(), ["message", "note"]),
    (List[str], OptionInfo(), []),
    (List[int], OptionInfo(), ["1", "x"]),
    (Path, OptionInfo(), "some/where"),
    (Path, OptionInfo(exists=True), "/no/such/path/at/all"),
    (Optional[Path], OptionInfo(), None),
])
def test_same_values_and_errors_as_typer(annotation, info, value):
    theirs, ours = _both(annotation, info, value)
    assert ours == theirs
    assert type(ours) is type(theirs)


def test_one_shot_search_and_ask_do_not_import_pydantic(tmp_path):
    code = (
        "import sys, json\n"
        "from memcli.main import run\n"
        "home = sys.argv[1]\n"
        "for argv in (['search', 'keys', '-n', '3', '--json', '--kind', 'message'],\n"
        "             ['ask', 'where are the keys', '--no-llm', '--json', '-n', '4']):\n"
        "    sys.argv = ['memcli', '--home', home] + argv\n"
        "    try:\n"
        "        run()\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, cwd=tmp_path,
                          env={"MEMCLI_EMBEDDER": "hash", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_malformed_number_is_still_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "memcli", "--home", str(tmp_path), "search", "keys",
                           "-n", "ten"], capture_output=True, text=True, cwd=tmp_path,
                          env={"MEMCLI_EMBEDDER": "hash", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "valid integer" in proc.stderr
