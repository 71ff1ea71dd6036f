"""TabularDataset's v1 operations on real CSV and parquet files on the embedded local datastore, and
the in-step TabularInput reading the same spec the same way."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import pandas as pd
import pytest

from airflow_mlpipe import Run, UserErrorException, Workspace
from airflow_mlpipe.definitions.dataset import AbstractDataset, FileDataset
from airflow_mlpipe.definitions.datastore import DataPath
from airflow_mlpipe.definitions.tabular import TabularDataset, from_delimited_files, from_parquet_files
from airflow_mlpipe.tables import TabularInput, delimited_options, parquet_options, read_table

ROWS = pd.DataFrame(
    {
        "id": list(range(1, 21)),
        "country": ["fr", "de", "us", "fr/be"] * 5,  # '/' must survive as a folder name
        "year": [2020, 2021] * 10,
        "score": [i / 4 for i in range(20)],
    }
)


@pytest.fixture
def store(tmp_path):
    return Workspace.from_config().get_default_datastore()


def upload(
    store, tmp_path: Path, name: str, text: str, target: str = "tables", encoding: str = "utf-8"
) -> None:
    local = tmp_path / "up" / name
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(text.encode(encoding))
    store.upload_files([str(local)], target_path=target, overwrite=True, show_progress=False)


@pytest.fixture
def table(store, tmp_path):
    """ROWS as two CSV files in one folder."""
    upload(store, tmp_path, "a.csv", ROWS.iloc[:12].to_csv(index=False))
    upload(store, tmp_path, "b.csv", ROWS.iloc[12:].to_csv(index=False))
    return from_delimited_files((store, "tables/*.csv"))


def in_step(dataset: AbstractDataset, tmp_path: Path, root: bool = True) -> TabularInput:
    """What the step operator hands a script for a direct tabular input: the spec's files downloaded
    into one folder, and the spec's options."""
    spec = json.loads(json.dumps(dataset.to_spec()))  # the spec travels as JSON
    target = tmp_path / f"step-input-{len(list(tmp_path.glob('step-input-*')))}"
    files: list[str] = []
    for entry in spec["paths"]:
        files += [str(p) for p in dataset.paths[0][0].store.download(entry["path"], target)]
    return TabularInput("table", sorted(files), spec["options"], str(target) if root else None)


def test_delimited_read_and_options(table):
    assert table.options["format"] == "delimited"
    assert table.partition_keys == []
    frame = table.to_pandas_dataframe()
    pd.testing.assert_frame_equal(frame, ROWS)
    assert "transforms" not in table.options  # no transform: options (and fingerprints) as before


def test_parquet_files_read_include_path_and_in_step(store, tmp_path):
    (tmp_path / "pq").mkdir()
    ROWS.iloc[:5].to_parquet(tmp_path / "pq" / "one.parquet", index=False)
    ROWS.iloc[5:].to_parquet(tmp_path / "pq" / "two.parquet", index=False)
    store.upload(tmp_path / "pq", target_path="weather/2018", show_progress=False)
    ds = from_parquet_files((store, "weather"), include_path=True)
    assert ds.options == {"format": "parquet", "include_path": True} == parquet_options(include_path=True)
    frame = ds.to_pandas_dataframe()
    assert frame["Path"].tolist() == ["/2018/one.parquet"] * 5 + ["/2018/two.parquet"] * 15
    pd.testing.assert_frame_equal(frame.drop(columns="Path"), ROWS)
    pd.testing.assert_frame_equal(in_step(ds, tmp_path).to_pandas_dataframe(), frame)


def test_parquet_refusals_and_bad_files(store, tmp_path):
    with pytest.raises(UserErrorException, match="from_parquet_files: set_column_types is not supported"):
        from_parquet_files((store, "x.parquet"), validate=False, set_column_types={"a": "int"})
    with pytest.raises(UserErrorException, match="from_parquet_files: partition_format is not supported"):
        from_parquet_files((store, "x.parquet"), validate=False, partition_format="/{a}/x.parquet")
    with pytest.raises(UserErrorException, match="from_delimited_files: partition_format is not supported"):
        from_delimited_files((store, "x.csv"), validate=False, partition_format="/{a}/x.csv")
    with pytest.raises(UserErrorException, match="matches no file"):
        from_parquet_files((store, "missing/*.parquet"))
    upload(store, tmp_path, "fake.parquet", "a,b\n1,2\n", target="bad")
    with pytest.raises(UserErrorException, match=r"cannot read .*fake\.parquet as a parquet file"):
        from_parquet_files((store, "bad/fake.parquet")).to_pandas_dataframe()


class Headers(Enum):  # the shape of v1's PromoteHeadersBehavior
    NO_HEADERS = 0
    ONLY_FIRST_FILE_HAS_HEADERS = 1
    COMBINE_ALL_FILES_HEADERS = 2
    ALL_FILES_HAVE_SAME_HEADERS = 3


def test_delimited_header_modes_separator_and_encoding(store, tmp_path):
    upload(store, tmp_path, "1.tsv", "a\tb\n1\tx\n", target="h")
    upload(store, tmp_path, "2.tsv", "2\ty\n", target="h")
    only_first = from_delimited_files(
        (store, "h"), separator="\t", header=Headers.ONLY_FIRST_FILE_HAS_HEADERS
    )
    assert only_first.to_pandas_dataframe().to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
    none = from_delimited_files((store, "h/2.tsv"), separator="\t", header=False)
    assert none.options["header"] == "no_header"
    assert none.to_pandas_dataframe().to_dict("list") == {"Column1": [2], "Column2": ["y"]}
    upload(store, tmp_path, "c1.csv", "a,b\n1,2\n", target="c")
    upload(store, tmp_path, "c2.csv", "b,c\n3,4\n", target="c")
    combined = from_delimited_files(
        (store, "c"), header=Headers.COMBINE_ALL_FILES_HEADERS
    ).to_pandas_dataframe()
    assert list(combined.columns) == ["a", "b", "c"] and combined["b"].tolist() == [2, 3]
    upload(store, tmp_path, "l.csv", "name\ncafé\n", target="enc", encoding="latin-1")
    latin = from_delimited_files((store, "enc/l.csv"), encoding="latin1", infer_column_types=False)
    assert latin.to_pandas_dataframe()["name"].tolist() == ["café"]
    with pytest.raises(UserErrorException, match=r"cannot read .*l\.csv as a delimited file .*'utf8'"):
        from_delimited_files((store, "enc/l.csv")).to_pandas_dataframe()
    with pytest.raises(UserErrorException, match="encoding 'utf-99' is not supported"):
        from_delimited_files((store, "enc/l.csv"), encoding="utf-99")
    with pytest.raises(UserErrorException, match="separator '' is invalid"):
        delimited_options(separator="")
    with pytest.raises(UserErrorException, match="header 'first' is invalid"):
        delimited_options(header="first")


def test_take_skip_columns_are_new_datasets_read_in_order(table, tmp_path):
    before = json.dumps(table.to_spec(), sort_keys=True)
    derived = table.skip(3).take(5).keep_columns(["score", "id"]).drop_columns("score")
    assert json.dumps(table.to_spec(), sort_keys=True) == before  # the original is untouched
    assert isinstance(derived, TabularDataset) and derived.paths == table.paths
    assert [t["op"] for t in derived.options["transforms"]] == [
        "skip",
        "take",
        "keep_columns",
        "drop_columns",
    ]
    frame = derived.to_pandas_dataframe()
    assert frame.to_dict("list") == {"id": [4, 5, 6, 7, 8]}
    assert list(frame.index) == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(in_step(derived, tmp_path).to_pandas_dataframe(), frame)
    assert table.take(0).to_pandas_dataframe().empty and len(table.skip(100).to_pandas_dataframe()) == 0
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(UserErrorException, match="count must be a non-negative int"):
            table.take(bad)
    with pytest.raises(UserErrorException, match="skip: count"):
        table.skip(-2)


def test_unknown_columns_name_what_is_missing_and_what_is_there(table, tmp_path):
    with pytest.raises(
        UserErrorException, match=r"keep_columns: column\(s\) \['nope'\] not found; .*'country'"
    ):
        table.keep_columns(["id", "nope"], validate=True)  # checked at call time
    lazy = table.keep_columns(["id", "nope"])  # validate=False: checked when read
    with pytest.raises(
        UserErrorException, match=r"\['nope'\] not found; the dataset has columns \['id', 'country'"
    ):
        lazy.to_pandas_dataframe()
    with pytest.raises(UserErrorException, match=r"drop_columns: column\(s\) \['zz'\] not found"):
        table.drop_columns(["zz"]).to_pandas_dataframe()
    with pytest.raises(UserErrorException, match=r"drop_columns: column\(s\) \['zz'\] not found"):
        in_step(table.drop_columns("zz"), tmp_path).to_pandas_dataframe()
    with pytest.raises(UserErrorException, match="columns must be a column name or a non-empty list"):
        table.keep_columns([])
    assert table.keep_columns("id", validate=True).to_pandas_dataframe().columns.tolist() == ["id"]


def test_random_split_is_complementary_deterministic_and_seeded_at_call_time(table, tmp_path):
    first, second = table.random_split(0.3, seed=7)
    a, b = first.to_pandas_dataframe(), second.to_pandas_dataframe()
    assert set(a["id"]).isdisjoint(b["id"])
    assert sorted([*a["id"], *b["id"]]) == ROWS["id"].tolist()
    assert a["id"].tolist() == sorted(a["id"]) and b["id"].tolist() == sorted(b["id"])  # row order kept
    assert 0 < len(a) < len(ROWS)
    pd.testing.assert_frame_equal(first.to_pandas_dataframe(), a)
    again, _ = table.random_split(0.3, seed=7)
    pd.testing.assert_frame_equal(again.to_pandas_dataframe(), a)
    unseeded, rest = table.random_split(0.5)
    seed = unseeded.options["transforms"][-1]["seed"]
    assert isinstance(seed, int) and rest.options["transforms"][-1]["seed"] == seed
    x = unseeded.to_pandas_dataframe()
    pd.testing.assert_frame_equal(unseeded.to_pandas_dataframe(), x)
    pd.testing.assert_frame_equal(in_step(unseeded, tmp_path).to_pandas_dataframe(), x)
    assert sorted([*x["id"], *rest.to_pandas_dataframe()["id"]]) == ROWS["id"].tolist()
    all_rows, nothing = table.random_split(1.0, seed=1)
    assert len(all_rows.to_pandas_dataframe()) == 20 and nothing.to_pandas_dataframe().empty
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(UserErrorException, match="percentage must be a number between 0.0 and 1.0"):
            table.random_split(bad)
    with pytest.raises(UserErrorException, match="seed must be a non-negative int"):
        table.random_split(0.5, seed="x")


def test_partition_by_writes_key_folders_and_reads_the_keys_back(table, store, tmp_path, capsys):
    when = pd.to_datetime(["2024-01-02 03:04:05", "2024-05-06 00:00:00"] * 10)
    typed = ROWS.assign(flag=[i % 3 == 0 for i in range(20)])
    upload(store, tmp_path, "t.csv", typed.to_csv(index=False), target="typed")
    source = from_delimited_files((store, "typed/t.csv"))
    parted = source.partition_by(["country", "year", "flag"], DataPath(store, "parts"))
    assert capsys.readouterr().out.splitlines()[0] == "Validating arguments."
    assert isinstance(parted, TabularDataset) and parted.partition_keys == ["country", "year", "flag"]
    [(ds, prefix)] = parted.paths
    assert ds is store and prefix.startswith("parts/") and len(prefix) == len("parts/") + 32
    stored = sorted(i.path[len(prefix) + 1 :] for i in store.store.list(prefix))
    combos = len(typed.drop_duplicates(["country", "year", "flag"]))
    assert len(stored) == combos and "country=fr%2Fbe/year=2021/flag=False/part-00000.parquet" in stored
    store.store.download_file(f"{prefix}/{stored[0]}", tmp_path / "one.parquet")
    assert list(pd.read_parquet(tmp_path / "one.parquet").columns) == ["id", "score"]  # keys: in folder names
    frame = parted.to_pandas_dataframe()
    assert list(frame.columns) == ["id", "score", "country", "year", "flag"]
    expected = source.to_pandas_dataframe()[list(frame.columns)]
    got = frame.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)
    pd.testing.assert_frame_equal(in_step(parted, tmp_path).to_pandas_dataframe(), frame)
    # a step's Run context (no download root) reads the partitions the same way
    step = in_step(parted, tmp_path, root=False)
    ctx = {"run_id": "d/r/t/1", "metrics_file": str(tmp_path / "m.jsonl")}
    ctx["input_datasets"] = {"table": {"kind": "tabular", "files": step.files, "options": step.options}}
    (tmp_path / "ctx.json").write_text(json.dumps(ctx))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLPIPE_RUN_CONTEXT", str(tmp_path / "ctx.json"))
        inside = Run.get_context().input_datasets["table"]
    pd.testing.assert_frame_equal(inside.to_pandas_dataframe(), frame)
    assert inside.partition_keys == ["country", "year", "flag"]
    # datetimes and transforms on a partitioned dataset
    (tmp_path / "dated").mkdir()
    ROWS.assign(day=when).to_parquet(tmp_path / "dated" / "d.parquet", index=False)
    store.upload(tmp_path / "dated", target_path="dated", show_progress=False)
    dated = from_parquet_files((store, "dated/d.parquet")).keep_columns(["id", "day"])
    by_day = dated.partition_by("day", (store, "by-day"), show_progress=False)
    by_day_frame = by_day.to_pandas_dataframe()
    assert by_day_frame["day"].dtype == when.dtype
    pd.testing.assert_frame_equal(
        by_day_frame.sort_values("id").reset_index(drop=True), dated.to_pandas_dataframe()
    )
    assert by_day.take(3).to_pandas_dataframe()["day"].tolist() == [when[0]] * 3
    assert by_day.drop_columns("day").to_pandas_dataframe().columns.tolist() == ["id"]


def test_partition_by_targets_file_dataset_and_errors(table, store, tmp_path, capsys):
    files = table.partition_by(["year"], store, show_progress=False, partition_as_file_dataset=True)
    assert capsys.readouterr().out == ""
    assert isinstance(files, FileDataset) and not isinstance(files, TabularDataset)
    assert sorted(
        Path(p).relative_to(Path(p).parents[1]).as_posix() for p in files.download(tmp_path / "f")
    ) == [
        "year=2020/part-00000.parquet",
        "year=2021/part-00000.parquet",
    ]
    twice = [table.partition_by(["year"], (store, "same"), show_progress=False) for _ in range(2)]
    assert twice[0].paths[0][1] != twice[1].paths[0][1]  # each call writes a new folder
    with pytest.raises(UserErrorException, match="partition_keys cannot be empty"):
        table.partition_by([], store)
    with pytest.raises(UserErrorException, match="partition_keys cannot have duplicates"):
        table.partition_by(["year", "year"], store)
    with pytest.raises(
        UserErrorException, match=r"\['month'\] are invalid partition keys; the dataset has columns"
    ):
        table.partition_by(["month"], store)
    with pytest.raises(UserErrorException, match="target 'parts' is invalid; use a DataPath"):
        table.partition_by(["year"], "parts")
    with pytest.raises(UserErrorException, match="no records to partition"):
        table.take(0).partition_by(["year"], store)
    with pytest.raises(UserErrorException, match="at least one column must not be a partition key"):
        table.keep_columns("year").partition_by(["year"], store)


def test_partition_by_with_name_registers_a_new_version(table, store):
    if not hasattr(AbstractDataset, "register"):
        pytest.skip("AbstractDataset.register is not on this branch yet")
    first = table.partition_by(["year"], store, name="by_year", show_progress=False)
    second = table.partition_by(["year"], store, name="by_year", show_progress=False)
    assert first.name == second.name == "by_year" and second.version == first.version + 1
    assert first.partition_keys == ["year"]


def test_to_csv_and_parquet_files_materialize_the_transformed_table(table, store, tmp_path):
    derived = table.skip(2).keep_columns(["id", "country"])
    expected = derived.to_pandas_dataframe()
    csv = derived.to_csv_files(separator=";")
    assert isinstance(csv, FileDataset)
    [(ds, prefix)] = csv.paths
    assert ds is store and prefix.startswith("mlpipe/derived/") and len(prefix.rsplit("/", 1)[1]) == 64
    [local] = csv.download(tmp_path / "csv")
    assert Path(local).name == "part-00000.csv"
    pd.testing.assert_frame_equal(pd.read_csv(local, sep=";"), expected)
    parquet = derived.to_parquet_files()
    assert parquet.paths[0][1] != prefix
    [pq] = parquet.download(tmp_path / "pq")
    pd.testing.assert_frame_equal(pd.read_parquet(pq), expected)
    # read back as tables: the same records
    pd.testing.assert_frame_equal(from_parquet_files(parquet.paths[0]).to_pandas_dataframe(), expected)
    pd.testing.assert_frame_equal(
        from_delimited_files(csv.paths[0], separator=";").to_pandas_dataframe(), expected
    )
    assert derived.to_csv_files(separator=";").paths == csv.paths  # same table, same place
    upload(store, tmp_path, "b.csv", ROWS.iloc[12:].assign(id=ROWS["id"].iloc[12:] + 100).to_csv(index=False))
    changed = derived.to_csv_files(separator=";")
    assert changed.paths != csv.paths  # new data, new folder: the earlier FileDataset keeps its files
    assert pd.read_csv(csv.download(tmp_path / "old")[0], sep=";")["id"].max() == 20
    assert pd.read_csv(changed.download(tmp_path / "new")[0], sep=";")["id"].max() == 120
    with pytest.raises(UserErrorException, match="to_csv_files: separator '' is invalid"):
        derived.to_csv_files(separator="")


def test_read_arguments_and_unknown_options_are_refused(table, tmp_path):
    with pytest.raises(UserErrorException, match="on_error must be 'null' or 'fail'"):
        table.to_pandas_dataframe(on_error="skip")
    with pytest.raises(UserErrorException, match="out_of_range_datetime must be 'null' or 'fail'"):
        in_step(table, tmp_path).to_pandas_dataframe(out_of_range_datetime="clip")
    assert len(table.to_pandas_dataframe(on_error="fail", out_of_range_datetime="fail")) == 20
    csv = tmp_path / "x.csv"
    csv.write_text("a\n1\n")
    with pytest.raises(UserErrorException, match="table format 'orc' is unknown"):
        read_table([csv], {"format": "orc"})
    with pytest.raises(UserErrorException, match="table transform .* is unknown"):
        read_table([csv], {"transforms": [{"op": "filter"}]})
    with pytest.raises(
        UserErrorException, match=r"is in no '<key>=<value>' folder for partition key\(s\) \['k'\]"
    ):
        read_table([csv], {"partition_keys": ["k"]})
    # options written before 'format' existed read as delimited
    assert read_table([csv], {"separator": ","}).to_dict("list") == {"a": [1]}
