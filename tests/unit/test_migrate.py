"""``mlpipe migrate`` on real files and notebooks: each import form, references, formatting kept byte for
byte, magics, --check/--diff, idempotence, the report of unsupported v1 use, and parse errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from airflow_mlpipe.cli import main
from airflow_mlpipe.migrate.command import run
from airflow_mlpipe.migrate.notebooks import mask_magics, unmask

MLPIPE = Path(sys.executable).parent / "mlpipe"


def migrate(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    paths = [a for a in args if not a.startswith("--")]
    code = run(paths, check="--check" in args, diff="--diff" in args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def rewrite(tmp_path: Path, source: str, name: str = "pipe.py") -> tuple[str, str]:
    path = tmp_path / name
    path.write_text(source)
    code, out, err = migrate(name)
    assert code == 0, err
    return path.read_text(), out


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            "import azureml.core\nprint(azureml.core.VERSION)\nws = azureml.core.Workspace.from_config()\n",
            "import airflow_mlpipe.v1.core\nprint(airflow_mlpipe.v1.core.VERSION)\n"
            "ws = airflow_mlpipe.v1.core.Workspace.from_config()\n",
            id="import-dotted-and-chains",
        ),
        pytest.param(
            "import azureml.core as aml\nws = aml.Workspace.from_config()\n",
            "import airflow_mlpipe.v1.core as aml\nws = aml.Workspace.from_config()\n",
            id="import-as",
        ),
        pytest.param(
            "from azureml.pipeline.core import Pipeline, PipelineData\np = Pipeline\n",
            "from airflow_mlpipe.v1.pipeline.core import Pipeline, PipelineData\np = Pipeline\n",
            id="from-import",
        ),
        pytest.param(
            "import azureml\nimport azureml.core\nx = azureml.core.Workspace\n",
            "import airflow_mlpipe.v1 as azureml\nimport airflow_mlpipe.v1.core\nx = azureml.core.Workspace\n",
            id="bare-import-keeps-its-name",
        ),
        pytest.param(
            "from azureml import core\nfrom azureml.core import Workspace as W\nW.from_config(); core.Run\n",
            "from airflow_mlpipe.v1 import core\nfrom airflow_mlpipe.v1.core import Workspace as W\n"
            "W.from_config(); core.Run\n",
            id="from-package-and-alias",
        ),
        pytest.param(
            "import os, azureml.pipeline.core, azureml.core\n"
            "def f(azureml):\n    return azureml.core\n"
            "def g():\n    azureml = object()\n    return azureml.core\n"
            "class K:\n    def m(self):\n        return azureml.pipeline.core.Pipeline, azureml.core.Run\n",
            "import os, airflow_mlpipe.v1.pipeline.core, airflow_mlpipe.v1.core\n"
            "def f(azureml):\n    return azureml.core\n"
            "def g():\n    azureml = object()\n    return azureml.core\n"
            "class K:\n    def m(self):\n        return airflow_mlpipe.v1.pipeline.core.Pipeline, "
            "airflow_mlpipe.v1.core.Run\n",
            id="local-names-called-azureml-are-not-touched",
        ),
        pytest.param(
            "def load():\n    import azureml.core\n    return azureml.core.Run.get_context()\n",
            "def load():\n    import airflow_mlpipe.v1.core\n    return airflow_mlpipe.v1.core.Run.get_context()\n",
            id="function-scope-import",
        ),
        pytest.param(
            "from azureml.core import *\nfrom .azureml import core\nimport azureml_like\n",
            "from airflow_mlpipe.v1.core import *\nfrom .azureml import core\nimport azureml_like\n",
            id="star-relative-and-lookalike",
        ),
    ],
)
def test_import_forms(tmp_path, before, after):
    text, _ = rewrite(tmp_path, before)
    assert text == after
    compile(text, "pipe.py", "exec")


def test_formatting_and_comments_are_kept_byte_for_byte(tmp_path):
    before = (
        "# -*- coding: latin-1 -*-\r\n"
        "# caf\xe9: a comment that is not UTF-8\r\n"
        "from   azureml.pipeline.steps import (  # the steps\r\n"
        "    PythonScriptStep ,  # one\r\n"
        ")\r\n"
        "import azureml.core   as aml  ;  x = 1\r\n"
        "ws = aml . Workspace . from_config(  )  # azureml.core in a comment stays\r\n"
        "s = 'import azureml.core'\r\n"
    ).encode("latin-1")
    path = tmp_path / "odd.py"
    path.write_bytes(before)
    assert migrate(str(path))[0] == 0
    assert path.read_bytes() == before.replace(b"from   azureml.", b"from   airflow_mlpipe.v1.").replace(
        b"import azureml.core   as", b"import airflow_mlpipe.v1.core   as"
    )


def test_unknown_module_is_left_and_reported(tmp_path):
    text, out = rewrite(tmp_path, "import azureml.nosuch\nimport azureml.core\nazureml.core.Run\n")
    assert text == "import azureml.nosuch\nimport airflow_mlpipe.v1.core\nairflow_mlpipe.v1.core.Run\n"
    assert "pipe.py:1: azureml.nosuch is not known to airflow-mlpipe" in out
    assert "the import was left unchanged" in out


def test_report_names_file_and_line_for_each_kind(tmp_path):
    (tmp_path / "steps.py").write_text(
        "from azureml.core import ScriptRunConfig as E, Workspace\n"  # 1
        "from azureml.core.runconfig import MpiConfiguration\n"  # 2
        "import azureml.train.estimator\n"  # 3
        "from azureml.pipeline.core import PipelineData\n"  # 4
        "env = E(name='x')\n"  # 5
        "step = PipelineData(\n"  # 6
        "    name='a',\n"  # 7
        "    training_output=None,\n"  # 8
        ")\n"
        "from azureml.core import NoSuchThing\n"  # 10
    )
    code, out, _ = migrate("steps.py")  # the tests run in tmp_path
    assert code == 0
    lines = out.splitlines()
    env = "azureml.core.ScriptRunConfig is not supported by airflow-mlpipe"
    assert any(line.startswith("steps.py:1: " + env) for line in lines), out
    assert any(
        line.startswith("steps.py:2: azureml.core.runconfig.MpiConfiguration is not supported")
        for line in lines
    )
    assert any(line.startswith("steps.py:5: " + env) for line in lines), out
    assert any(
        line.startswith("steps.py:3: azureml.train.estimator is not supported by airflow-mlpipe")
        for line in lines
    )
    assert any(
        line.startswith(
            "steps.py:8: azureml.pipeline.core.PipelineData(training_output=...) is not supported"
        )
        for line in lines
    ), out
    assert any(
        line.startswith("steps.py:10: azureml.core.NoSuchThing is not known to airflow-mlpipe")
        for line in lines
    )
    assert all("(see docs/migration.md)" in line for line in lines[:-1])
    assert lines[-1] == f"1 file(s) changed, {len(lines) - 1} finding(s)"
    # the report is the same after the rewrite: already migrated code is checked too
    assert migrate("steps.py")[1] == out.replace("1 file(s) changed", "0 file(s) changed")


def test_unsupported_name_through_an_attribute_chain(tmp_path):
    _, out = rewrite(tmp_path, "import azureml.core as aml\n\nrun = aml.ScriptRun.get_context()\n")
    assert out.splitlines()[0].startswith("pipe.py:3: azureml.core.ScriptRun is not supported")


def test_check_and_diff_exit_codes_through_the_installed_command(tmp_path):
    src = tmp_path / "proj"
    src.mkdir()
    (src / "a.py").write_text("import azureml.core\n")
    (src / "clean.py").write_text("import os\n")

    def mlpipe(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(MLPIPE), "migrate", *args], capture_output=True, text=True, timeout=120)

    checked = mlpipe("--check", "--diff", str(src))
    assert checked.returncode == 1, checked.stderr
    assert f"--- a/{src / 'a.py'}\n+++ b/{src / 'a.py'}\n" in checked.stdout
    assert "-import azureml.core\n+import airflow_mlpipe.v1.core\n" in checked.stdout
    assert checked.stdout.endswith("1 file(s) would change, 0 finding(s)\n")
    assert (src / "a.py").read_text() == "import azureml.core\n"  # --check writes nothing

    written = mlpipe("--diff", str(src))
    assert written.returncode == 0, written.stderr
    assert "+import airflow_mlpipe.v1.core\n" in written.stdout
    assert (src / "a.py").read_text() == "import airflow_mlpipe.v1.core\n"

    again = mlpipe("--check", str(src))  # idempotent
    assert again.returncode == 0 and again.stdout == "0 file(s) would change, 0 finding(s)\n"


def test_cli_entry_function(tmp_path, capsys):
    (tmp_path / "a.py").write_text("from azureml.core import Workspace\n")
    assert main(["migrate", "--check", "a.py"]) == 1
    assert main(["migrate", "a.py"]) == 0
    assert main(["migrate", "--check", "a.py"]) == 0
    assert (tmp_path / "a.py").read_text() == "from airflow_mlpipe.v1.core import Workspace\n"


def test_parse_error_names_the_file_skips_it_and_fails_at_the_end(tmp_path):
    bad = "import azureml.core\ndef broken(:\n    pass\n"
    (tmp_path / "bad.py").write_text(bad)
    (tmp_path / "good.py").write_text("import azureml.core\n")
    code, out, err = migrate(str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'bad.py'}:2:" in err and "cannot parse this as Python" in err
    assert "fix the syntax and run mlpipe migrate again" in err
    assert (tmp_path / "bad.py").read_text() == bad
    assert (tmp_path / "good.py").read_text() == "import airflow_mlpipe.v1.core\n"
    assert out.endswith("1 file(s) changed, 0 finding(s), 1 error(s)\n")


def test_missing_path_and_wrong_kind_are_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("import azureml.core\n")
    code, _, err = migrate("nowhere", "notes.txt")
    assert code == 2
    assert "nowhere: no such file or folder" in err
    assert "notes.txt: not a .py file or an .ipynb notebook" in err


def test_folders_are_searched_skipping_venvs_vcs_and_hidden_ones(tmp_path):
    for rel in [
        "pkg/sub/a.py",
        ".venv/lib/b.py",
        "node_modules/c.py",
        ".hidden/d.py",
        ".git/e.py",
        "venv/f.py",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import azureml.core\n")
    (tmp_path / "pkg" / "sub" / "a.py").chmod(0o750)
    code, out, _ = migrate(".")
    assert code == 0 and out.startswith("1 file(s) changed")
    assert (tmp_path / "pkg/sub/a.py").read_text() == "import airflow_mlpipe.v1.core\n"
    assert (tmp_path / "pkg/sub/a.py").stat().st_mode & 0o777 == 0o750  # the atomic write keeps the mode
    assert sorted(p.name for p in (tmp_path / "pkg/sub").iterdir()) == ["a.py"]  # no temp file left
    assert (tmp_path / ".venv/lib/b.py").read_text() == "import azureml.core\n"


# --- notebooks ------------------------------------------------------------------------------------------

MAGIC_CELL = (
    "%matplotlib inline\n"
    "!pip install azureml-sdk\n"
    "import azureml.core\n"
    "files = !ls\n"
    "azureml.core.Workspace?\n"
    "for f in files:\n"
    "    !echo {f} \\\n"
    "        done\n"
    "ws = azureml.core.Workspace.from_config()  # from the config\n"
)


def make_notebook(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Train – with `import azureml.core` in prose"),
        nbformat.v4.new_code_cell(MAGIC_CELL),
        nbformat.v4.new_code_cell(
            "from azureml.core import ScriptRunConfig\nenv = ScriptRunConfig('é')",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="azureml.core ok – é\n")],
            execution_count=3,
        ),
        nbformat.v4.new_code_cell("%%bash\npip install azureml-core\necho import azureml.core\n"),
        nbformat.v4.new_code_cell("%%time\nimport azureml.pipeline.core\n"),
        nbformat.v4.new_code_cell("%pip install azureml-pipeline"),
    ]
    nb.cells[1].metadata["tags"] = ["setup"]
    nbformat.write(nb, str(path))
    return nb


def test_notebook_cells_are_migrated_and_the_json_layout_kept(tmp_path):
    path = tmp_path / "train.ipynb"
    nb = make_notebook(path)
    code, out, err = migrate("train.ipynb")
    assert code == 0, err
    nb.cells[1].source = MAGIC_CELL.replace("import azureml.core", "import airflow_mlpipe.v1.core").replace(
        "ws = azureml.core.", "ws = airflow_mlpipe.v1.core."
    )
    nb.cells[2].source = "from airflow_mlpipe.v1.core import ScriptRunConfig\nenv = ScriptRunConfig('é')"
    nb.cells[4].source = "%%time\nimport airflow_mlpipe.v1.pipeline.core\n"
    expected = tmp_path / "expected.ipynb"
    nbformat.write(nb, str(expected))
    assert (
        path.read_bytes() == expected.read_bytes()
    )  # outputs, metadata, markdown, layout: all as nbformat writes
    assert "azureml.core.Workspace?" in path.read_text()  # help line restored as it was
    lines = out.splitlines()
    assert "train.ipynb:cell2:2: `!pip install azureml-sdk` installs Azure ML SDK v1 packages" in out
    assert any(
        line.startswith("train.ipynb:cell3:1: azureml.core.ScriptRunConfig is not supported")
        for line in lines
    )
    assert any(
        line.startswith("train.ipynb:cell3:2: azureml.core.ScriptRunConfig is not supported")
        for line in lines
    )
    assert any(line.startswith("train.ipynb:cell4:2: `pip install azureml-core` installs") for line in lines)
    assert any(line.startswith("train.ipynb:cell6:1: `%pip install azureml-pipeline`") for line in lines)
    assert migrate("--check", str(path))[0] == 0  # idempotent


def test_notebook_parse_error_names_the_cell_and_leaves_the_file(tmp_path):
    path = tmp_path / "broken.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import azureml.core"), nbformat.v4.new_code_cell("x = (\n")]
    nbformat.write(nb, str(path))
    before = path.read_bytes()
    code, _, err = migrate(str(path))
    assert code == 2
    assert f"{path}:cell2:" in err and "cannot parse this as Python" in err
    assert path.read_bytes() == before


def test_notebook_with_other_layout_is_rewritten_in_that_layout(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "import azureml.core", "metadata": {}, "outputs": []}]}
    nb.update(metadata={"x": "é"}, nbformat=4, nbformat_minor=5)
    path = tmp_path / "two.ipynb"
    path.write_text(json.dumps(nb, indent=2, ensure_ascii=True))  # no trailing newline, escaped é
    assert migrate(str(path))[0] == 0
    nb["cells"][0]["source"] = "import airflow_mlpipe.v1.core"
    assert path.read_text() == json.dumps(nb, indent=2, ensure_ascii=True)


def test_mask_and_unmask_round_trip():
    masked, masks = mask_magics(MAGIC_CELL)
    assert len(masked.splitlines()) == len(MAGIC_CELL.splitlines())
    compile(masked, "cell", "exec")
    assert unmask(masked, masks) == MAGIC_CELL


def test_python_cell_magics_are_migrated_below_their_first_line(tmp_path):
    from airflow_mlpipe.migrate.catalog import Catalog
    from airflow_mlpipe.migrate.notebooks import migrate_cell

    catalog = Catalog()
    script = "%%writefile train.py\nfrom azureml.core import Run\nrun = Run.get_context()\n"
    assert migrate_cell(script, catalog)[0] == script.replace("azureml.core", "airflow_mlpipe.v1.core")
    text = "%%writefile notes.txt\nfrom azureml.core import Run\n"
    assert migrate_cell(text, catalog) == (text, [])
    env = migrate_cell("%%capture\n\nfrom azureml.core import ScriptRunConfig\n", catalog)[1]
    assert [f.line for f in env] == [3]


def test_a_syntax_error_among_magics_is_reported_where_it_is(tmp_path):
    from airflow_mlpipe.migrate.catalog import Catalog
    from airflow_mlpipe.migrate.codemod import MigrateParseError
    from airflow_mlpipe.migrate.notebooks import migrate_cell

    with pytest.raises(MigrateParseError) as caught:
        migrate_cell("!ls\nimport azureml.core\nx = (\n", Catalog())
    assert caught.value.line == 3 and "never closed" in caught.value.reason
