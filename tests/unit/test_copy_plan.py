"""v1's file and directory rules for DataTransferStep copies (storage/copy_plan.py)."""

from __future__ import annotations

import pytest

from airflow_mlpipe.exceptions import StepFailedError
from airflow_mlpipe.storage.base import FileInfo
from airflow_mlpipe.storage.copy_plan import DIRECTORY, FILE, plan_copy

WHERE = "DataTransferStep 'copy'"


def files(*paths: str) -> list[FileInfo]:
    return [FileInfo(p, 1, "e") for p in paths]


def test_a_directory_keeps_relative_paths():
    plan = plan_copy(WHERE, "raw/2026", files("raw/2026/a.csv", "raw/2026/sub/b.csv"), "lake/in")
    assert (plan.source_type, plan.destination_type) == (DIRECTORY, DIRECTORY)
    assert plan.pairs == [("raw/2026/a.csv", "lake/in/a.csv"), ("raw/2026/sub/b.csv", "lake/in/sub/b.csv")]


def test_a_file_into_a_directory_keeps_its_name_and_onto_a_file_takes_the_path():
    into = plan_copy(WHERE, "raw/a.csv", files("raw/a.csv"), "lake/in", destination_type=DIRECTORY)
    assert into.pairs == [("raw/a.csv", "lake/in/a.csv")]
    onto = plan_copy(WHERE, "raw/a.csv", files("raw/a.csv"), "lake/renamed.csv")
    assert onto.destination_type == FILE and onto.pairs == [("raw/a.csv", "lake/renamed.csv")]


def test_an_unset_destination_type_takes_what_exists_then_the_source_type():
    existing_dir = plan_copy(
        WHERE, "raw/a.csv", files("raw/a.csv"), "lake/in", destination_existing=DIRECTORY
    )
    assert existing_dir.pairs == [("raw/a.csv", "lake/in/a.csv")]
    nothing_there = plan_copy(WHERE, "raw/a.csv", files("raw/a.csv"), "lake/in")
    assert nothing_there.destination_type == FILE and nothing_there.pairs == [("raw/a.csv", "lake/in")]


def test_the_datastore_root_as_a_directory_destination():
    plan = plan_copy(WHERE, "raw", files("raw/a.csv"), "")
    assert plan.pairs == [("raw/a.csv", "a.csv")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_type": FILE}, "source_reference_type='file' but 'raw' is a directory of 2 file"),
        ({"destination_type": FILE}, "cannot copy the directory 'raw' onto the file 'out'"),
        ({"destination_existing": FILE}, "cannot copy the directory 'raw' onto the file 'out'"),
        (
            {"destination_type": DIRECTORY, "destination_existing": FILE},
            "destination_reference_type='directory' but a file already exists at 'out'",
        ),
    ],
)
def test_wrong_types_are_refused_naming_the_step(kwargs, message):
    with pytest.raises(StepFailedError, match=f"^DataTransferStep 'copy': {message}"):
        plan_copy(WHERE, "raw", files("raw/a.csv", "raw/b.csv"), "out", **kwargs)


def test_an_empty_source_and_a_file_typed_as_a_directory():
    with pytest.raises(StepFailedError, match="the source 'raw' holds no file"):
        plan_copy(WHERE, "raw", [], "out")
    with pytest.raises(StepFailedError, match="source_reference_type='directory' but 'raw/a.csv' is a file"):
        plan_copy(WHERE, "raw/a.csv", files("raw/a.csv"), "out", source_type=DIRECTORY)
