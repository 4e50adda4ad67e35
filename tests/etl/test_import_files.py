"""Bad input gets a clear error or a reject, and nothing is lost or half-written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from etl_support import customers, rejects_of

from customers.errors import DatabaseUnavailable
from etl.read import FileRejected
from etl.report import Report

HEADER = "phone,email,first_name,birth_date,children_count"
Write = Callable[..., Path]
Run = Callable[..., Report]


def balanced(report: Report) -> bool:
    c = report.counts
    return c.read == c.inserted + c.updated + c.unchanged + c.rejected + c.duplicates


def test_cp1251_file_needs_its_encoding(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    path = write("excel.csv", f"{HEADER}\n89123456789,,Пётр,01.02.1990,1\n", encoding="cp1251")
    with pytest.raises(FileRejected, match=r"not valid UTF-8.*--encoding cp1251"):
        run(path)
    assert customers(pg) == {}
    report = run(path, encoding="cp1251")
    assert report.counts.inserted == 1
    assert customers(pg)["79123456789"]["profile"]["first_name"] == "Пётр"


def test_bom_and_semicolon_and_tab_are_detected(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    run(write("bom.csv", "\ufeff" + HEADER.replace(",", ";") + "\n89123456789;;Анна;1990-02-01;2\n"))
    run(write("tab.tsv", HEADER.replace(",", "\t") + "\n89123456780\t\tОля\t\t\n"), mode="insert")
    stored = customers(pg)
    assert stored["79123456789"]["profile"] == {"first_name": "Анна", "birth_date": "1990-02-01", "children_count": 2}
    assert stored["79123456780"]["profile"] == {"first_name": "Оля"}


def test_ragged_rows_are_rejected_and_the_rest_loads(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    text = f"{HEADER}\n89123456781,,A,,1\n89123456782,,B\n89123456783,,C,,1,extra,more\n89123456784,,D,,2\n"
    report = run(write("ragged.csv", text))
    assert sorted(rejects_of(tmp_path / "rejects.csv")) == [(3, "*", "RAGGED_ROW"), (4, "*", "RAGGED_ROW")]
    assert sorted(customers(pg)) == ["79123456781", "79123456784"]
    assert report.counts.read == 4 and balanced(report)
    # too few fields only: the fast reader finds it on its own
    pg.execute("TRUNCATE customers CASCADE")
    report = run(write("short.csv", f"{HEADER}\n89123456781,,A,,1\n89123456782,,B\n"))
    assert rejects_of(tmp_path / "rejects.csv") == [(3, "*", "RAGGED_ROW")] and report.counts.inserted == 1


def test_quoted_newlines_kept_and_unterminated_quote_rejected(
    run: Run, write: Write, pg: psycopg.Connection[Any]
) -> None:
    report = run(write("quotes.csv", 'phone,about\n89123456781,"line one\nline two, with comma"\n89123456782,x\n'))
    assert customers(pg)["79123456781"]["profile"]["about"] == "line one\nline two, with comma"
    assert report.counts.inserted == 2
    # an open quote would swallow the rest of the file into one field: the file is refused, nothing guessed
    pg.execute("TRUNCATE customers CASCADE")
    with pytest.raises(FileRejected, match="quote opened in row 3 is never closed"):
        run(write("open.csv", 'phone,about\n89123456781,x\n89123456782,"never closed\n89123456783,x\n'))
    assert customers(pg) == {}


def test_exact_reader_takes_over_from_the_batch_with_a_multiline_row(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    # batches of 3 lines: the first two batches are read by polars, the exact reader reads on
    # from the third, which holds a quoted field spanning lines and a row with too few fields
    rows = [f"8912345670{i},x{i}" for i in range(6)]
    rows += ['89123456706,"one\ntwo"', "89123456707", "89123456708,y"]
    report = run(write("late.csv", "phone,about\n" + "\n".join(rows) + "\n"), batch_size=3)
    stored = customers(pg)
    assert [stored[f"7912345670{i}"]["profile"]["about"] for i in range(6)] == [f"x{i}" for i in range(6)]
    assert stored["79123456706"]["profile"]["about"] == "one\ntwo"
    assert stored["79123456708"]["profile"]["about"] == "y"
    # row numbers count rows (the quoted field's second line is not a row): 89123456707 is row 9
    assert rejects_of(tmp_path / "rejects.csv") == [(9, "*", "RAGGED_ROW")]
    assert report.counts.read == 9 and report.counts.inserted == 8 and balanced(report)


def test_a_short_row_among_quoted_delimiters_is_found(
    run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path
) -> None:
    # the quoted cell holds as many delimiters as the short row lacks: the file has as many
    # delimiters as four full rows, and only counting those between cells finds the short row
    text = 'phone,about,first_name\n89123456781,"a,b",x\n89123456782,c,y\n89123456783,z\n89123456784,w,v\n'
    report = run(write("short-quoted.csv", text))
    assert rejects_of(tmp_path / "rejects.csv") == [(4, "*", "RAGGED_ROW")]
    stored = customers(pg)
    assert stored["79123456781"]["profile"] == {"about": "a,b", "first_name": "x"}
    assert sorted(stored) == ["79123456781", "79123456782", "79123456784"] and balanced(report)


def test_a_bad_byte_past_the_sniffed_head_is_named_and_nothing_loads(
    run: Run, tmp_path: Path, pg: psycopg.Connection[Any]
) -> None:
    path = tmp_path / "late-bytes.csv"
    good = "".join(f"8912{i:07d},x{i}\n" for i in range(5000))  # past the 64 KiB the opening reads
    path.write_bytes(b"phone,about\n" + good.encode() + b"89123456789,\xcf\xf0\xe8\xe2\xe5\xf2\n")
    with pytest.raises(FileRejected, match=r"not valid UTF-8 \(row 5002, byte 0xcf\).*--encoding cp1251"):
        run(path, batch_size=1000)
    assert customers(pg) == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (f"{HEADER}\n".encode(), "no data rows"),
        (b"phone,email,phone\n89123456789,,x\n", "duplicate column names"),
    ],
)
def test_files_rejected_whole(
    run: Run, write: Write, pg: psycopg.Connection[Any], content: bytes, message: str
) -> None:
    with pytest.raises(FileRejected, match=message):
        run(write("bad.csv", content))
    assert customers(pg) == {}


def test_missing_file_and_directory(run: Run, tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="no such file"):
        run(tmp_path / "nope.csv")
    with pytest.raises(FileRejected, match="is a directory"):
        run(tmp_path)


def test_cell_level_defects(run: Run, write: Write, pg: psycopg.Connection[Any], tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    text = (
        f"{HEADER}\n89123456781,,{big},,1\n89123456782,,B,,abc\n89123456783,,C,31.02.2020,\n12345,,D,,\n"
        f"89123456785,,\"=cmd|' /C calc'!A0\",,\n"
    )
    report = run(write("cells.csv", text))
    found = rejects_of(tmp_path / "rejects.csv")
    assert found == [
        (2, "first_name", "LENGTH_CONSTRAINT"),
        (3, "children_count", "TYPE_MISMATCH"),
        (4, "birth_date", "INVALID_FORMAT"),
        (5, "phone", "INVALID_FORMAT"),
    ]
    big_reject = pl.read_csv(tmp_path / "rejects.csv", infer_schema=False).row(0, named=True)
    assert len(big_reject["value"]) <= 1001
    assert customers(pg)["79123456785"]["profile"]["first_name"] == "=cmd|' /C calc'!A0"
    assert report.counts.inserted == 1 and report.counts.rejected == 4


def test_unknown_and_missing_columns(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    path = write("unknown.csv", "phone,shoe_colour\n89123456781,red\n")
    with pytest.raises(FileRejected, match=r"unknown column.*shoe_colour"):
        run(path)
    assert run(path, ignore_unknown=True).ignored_columns == ["shoe_colour"]
    with pytest.raises(FileRejected, match="no `phone` column"):
        run(write("nophone.csv", "email\na@b.ru\n"))


def test_mapping_files_rename_columns(run: Run, write: Write, pg: psycopg.Connection[Any]) -> None:
    data = write("ru.csv", "Телефон;Имя;Город;Источник\n8 912 345-67-89;Иван;Москва;store\n")
    mapping = {
        "Телефон": "phone",
        "Имя": "profile.first_name",
        "Город": "city",
        "Источник": "meta.registration_channel",
    }
    run(data, mapping=mapping)
    stored = customers(pg)["79123456789"]
    assert stored["profile"] == {"first_name": "Иван", "city": "Москва"}
    assert stored["meta"] == {"registration_channel": "store"}


def test_parquet_with_wrong_column_types(run: Run, tmp_path: Path, pg: psycopg.Connection[Any]) -> None:
    path = tmp_path / "typed.parquet"
    pl.DataFrame({"phone": ["89123456789"], "children_count": [1.5]}).write_parquet(path)
    with pytest.raises(FileRejected, match=r"children_count.*Float64.*integer"):
        run(path)
    pl.DataFrame(
        {"phone": [79123456789], "children_count": [2], "car_owner": [True], "interests": [["sport"]]}
    ).write_parquet(path)
    run(path)
    assert customers(pg)["79123456789"]["profile"] == {"children_count": 2, "car_owner": True, "interests": ["sport"]}


def test_connection_lost_mid_load_leaves_nothing_and_a_rerun_completes(
    run: Run, write: Write, pg: psycopg.Connection[Any], conninfo: str
) -> None:
    lines = "".join(f"8912{i:07d},,Name{i},,\n" for i in range(3000))
    path = write("big.csv", f"{HEADER}\n{lines}")
    copies = []

    def kill_after_first_frame(conn: psycopg.Connection[Any]) -> None:
        copies.append(1)
        if len(copies) == 2:
            with psycopg.connect(conninfo, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    with pytest.raises(DatabaseUnavailable, match="run the command again"):
        run(path, batch_size=1000, after_copy=kill_after_first_frame)
    assert customers(pg) == {}
    status = pg.execute("SELECT status, error FROM import_runs ORDER BY id DESC LIMIT 1").fetchone()
    assert status is not None and status[0] == "failed" and status[1]
    leftovers = pg.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'import_staging_%'").fetchone()
    assert leftovers == (0,)
    report = run(path, batch_size=1000)
    assert report.counts.inserted == 3000 and len(customers(pg)) == 3000


def test_cells_with_the_copy_formats_special_characters_are_stored_as_written(
    run: Run, tmp_path: Path, pg: psycopg.Connection[Any]
) -> None:
    # what COPY's text format escapes (backslash, tab, newline, carriage return) and spells a
    # null with (\N), in a core text column and in profile text
    tricky = ["back\\slash", "tab\there", "two\nlines", "cr\rhere", "\\N", "end\\"]
    frame = pl.DataFrame(
        {
            "phone": [f"8912345678{i}" for i in range(len(tricky))],
            "source_id": tricky,
            "first_name": tricky,
        }
    )
    path = tmp_path / "tricky.parquet"
    frame.write_parquet(path)
    report = run(path)
    assert report.counts.inserted == len(tricky)
    stored = customers(pg)
    for i, text in enumerate(tricky):
        row = stored[f"7912345678{i}"]
        assert (row["source_id"], row["profile"]["first_name"]) == (text, text)
