"""The csv and csv_dict readers against the reader contract, their own cases, and a job
that reads a CSV input served over HTTP."""
import csv
import io

import pytest

from disco_core.errors import DataError
from disco_core.testing import ReaderContract
from disco_core.worker import Params

ROWS = [["name", "qty", "note"],
        ["pear", "3", "plain"],
        ["fig, dried", "5", 'with "quotes"'],
        ["multi", "1", "line one\nline two\r\nline three"],
        ["", "", ""],
        ["\u00e9t\u00e9 \u2603", "0", " spaces kept "],
        [],
        ["single"]]


def encode_rows(rows, **fmt):
    buf = io.StringIO(newline="")
    csv.writer(buf, **fmt).writerows(rows)
    return buf.getvalue().encode("utf-8")


class TestCsvReader(ReaderContract):
    reader = "csv"
    records = ROWS
    bad_input = b"a,b\n\xff\xfe,c\n"
    bad_error = UnicodeDecodeError

    @pytest.fixture
    def encode(self):
        return encode_rows


FIELDS = ["name", "qty", "note"]


class TestCsvDictReader(ReaderContract):
    reader = "csv_dict"
    records = [dict(zip(FIELDS, row)) for row in ROWS[1:6]]
    bad_input = b"a,b\n\xff\xfe,c\n"
    bad_error = UnicodeDecodeError

    @pytest.fixture
    def encode(self):
        def encode(records):
            buf = io.StringIO(newline="")
            w = csv.DictWriter(buf, FIELDS)
            w.writeheader()
            w.writerows(records)
            return buf.getvalue().encode("utf-8")
        return encode


@pytest.fixture
def host():
    from disco_core.plugins import PluginHost
    return PluginHost()


@pytest.fixture
def rows(host):
    return host.driver("reader", "csv")


@pytest.fixture
def dicts(host):
    return host.driver("reader", "csv_dict")


def test_unix_line_ends_and_no_final_newline(rows):
    assert list(rows(io.BytesIO(b"a,b\nc,\"d\ne\"\nf"))) == [["a", "b"], ["c", "d\ne"], ["f"]]


def test_delimiter_from_params_object(rows):
    data = b"a;b c;d\n1;2\n"
    assert list(rows(io.BytesIO(data), None, "test://p", Params(csv_delimiter=";"))) == \
        [["a", "b c", "d"], ["1", "2"]]


def test_dialect_from_params_dict_and_delimiter_on_top(rows):
    tab = b"a\tb,c\n1\t2\n"
    assert list(rows(io.BytesIO(tab), None, "test://t", {"csv_dialect": "excel-tab"})) == \
        [["a", "b,c"], ["1", "2"]]
    piped = b"a|'b|c'\n"

    class Quoted(csv.excel):
        quotechar = "'"
    params = Params(csv_dialect=Quoted, csv_delimiter="|")
    assert list(rows(io.BytesIO(piped), None, "test://q", params)) == [["a", "b|c"]]


def test_params_without_csv_settings_use_excel(rows):
    data = b"a,\"b,c\"\r\n"
    assert list(rows(io.BytesIO(data), None, "test://e", Params(other=1))) == [["a", "b,c"]]


def test_unknown_dialect_is_refused(rows):
    with pytest.raises(csv.Error):
        list(rows(io.BytesIO(b"a\n"), None, "test://d", Params(csv_dialect="no-such")))


def test_byte_order_mark_is_dropped(rows, dicts):
    data = "\ufeffname,qty\nfig,5\n".encode("utf-8")
    assert list(rows(io.BytesIO(data))) == [["name", "qty"], ["fig", "5"]]
    assert list(dicts(io.BytesIO(data))) == [{"name": "fig", "qty": "5"}]


def test_a_text_stream_is_used_as_it_is(rows):
    assert list(rows(io.StringIO("x,y\n"))) == [["x", "y"]]


def test_dict_rows_short_long_and_blank(dicts):
    data = b"a,b\n1\n\n1,2,3,4\n"
    assert list(dicts(io.BytesIO(data))) == [{"a": "1", "b": None},
                                             {"a": "1", "b": "2", None: ["3", "4"]}]


def test_header_only_has_no_dicts(dicts):
    assert list(dicts(io.BytesIO(b"a,b\r\n"))) == []


def test_malformed_rows_are_a_data_error_naming_url_and_line(rows):
    class Strict(csv.excel):
        strict = True
    data = b'ok,row\nbad,"quote"x\n'
    with pytest.raises(DataError) as err:
        list(rows(io.BytesIO(data), None, "test://strict", Params(csv_dialect=Strict)))
    assert "test://strict" in str(err.value) and "line 2" in str(err.value)


def test_oversized_field_is_a_data_error(rows):
    data = b'a,"' + b"x" * (csv.field_size_limit() + 10) + b'"\n'
    with pytest.raises(DataError) as err:
        list(rows(io.BytesIO(data), None, "test://big", None))
    assert "test://big" in str(err.value)


def test_closes_its_input(rows, dicts):
    for reader in (rows, dicts):
        fd = io.BytesIO(b"a,b\n1,2\n")
        list(reader(fd))
        assert fd.closed


def test_csv_rows_in_a_job(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco.worker.classic.func import sum_reduce
    from disco_core.worker.task_io import NamedDriver
    url = http_server.add("fruit.csv", 'name,qty\npear,3\n"fig, dried",5\r\npear,4\n')

    def fruit(row, params):
        if row[0] != "name":
            yield row[0], int(row[1])
    job = Job().run(input=[url], map_reader=NamedDriver("reader", "csv"), map=fruit,
                    reduce=sum_reduce)
    assert sorted(result_iterator(job.wait(timeout=120))) == [("fig, dried", 5), ("pear", 7)]


def semicolon_job(url, map_reader):
    from disco.core import Job, result_iterator
    job = Job().run(input=[url], map_reader=map_reader, params=Params(csv_delimiter=";"),
                    map=lambda row, params: [(row[0], row[1:])])
    return sorted(result_iterator(job.wait(timeout=120)))


def test_params_reach_the_csv_reader_in_a_job(disco_cluster, http_server):
    from disco_core.worker.task_io import NamedDriver
    url = http_server.add("semi.csv", "a;b;c\n1;2;3\n")

    def read(fd, size, url, params):
        return NamedDriver("reader", "csv").driver(fd, size, url, params)
    assert semicolon_job(url, read) == [("1", ["2", "3"]), ("a", ["b", "c"])]


def test_params_reach_a_named_csv_reader_in_a_job(disco_cluster, http_server):
    from disco_core.worker.task_io import NamedDriver
    url = http_server.add("semi.csv", "a;b;c\n1;2;3\n")
    assert semicolon_job(url, NamedDriver("reader", "csv")) == \
        [("1", ["2", "3"]), ("a", ["b", "c"])]


def test_csv_dicts_in_a_job(disco_cluster, http_server):
    from disco.core import Job, result_iterator
    from disco_core.worker.task_io import NamedDriver
    url = http_server.add("people.csv", "name,city\r\nann,\"Oslo, NO\"\r\nbo,Rome\r\n")
    job = Job().run(input=[url], map_reader=NamedDriver("reader", "csv_dict"),
                    map=lambda row, params: [(row["city"], row["name"])])
    assert sorted(result_iterator(job.wait(timeout=120))) == [("Oslo, NO", "ann"), ("Rome", "bo")]


def test_upstream_style_names_in_task_io():
    from disco.worker.task_io import csv_dict_reader, csv_reader
    assert list(csv_reader(io.BytesIO(b"a,b\n1,2\n"), None, "test://n", None)) == \
        [["a", "b"], ["1", "2"]]
    assert list(csv_dict_reader(io.BytesIO(b"a,b\n1,2\n"))) == [{"a": "1", "b": "2"}]
