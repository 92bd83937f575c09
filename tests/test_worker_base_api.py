"""The base Worker's surface (``disco.worker``, python-api.md 3): a user's own Worker
subclass with ``stage_<name>`` methods reading ``self.input`` / ``Input`` / ``get_input`` and
writing ``self.output`` / ``concat_input``, run on a real cluster; and the helper classes
(``Input``, ``SerialInput``, ``ParallelInput``, ``MergedInput``, ``ReplicaIter``,
``IDedInput``, ``Output``, ``BaseOutput``) on their own."""
from __future__ import annotations

import inspect
import io

import pytest

from disco.core import Job, result_iterator
from disco.error import DataError, DiscoError
from disco.job import JOBPACK_VERSION2
from disco.worker import (BaseOutput, IDedInput, Input, MergedInput, Output, ParallelInput,
                          ReplicaIter, SerialInput, Worker)
from disco.worker.task_io import chain_reader
from disco_core.worker import LAUNCHER
from disco_core.worker.dataio import read_index, text_stream
from disco_core.worker.task import Task


# -- a Worker of one's own, on a real cluster ---------------------------------------------
class StagesWorker(Worker):
    """A version-2 job whose pipeline is ``stages``; each stage is a ``stage_<name>``."""

    jobpack_version = JOBPACK_VERSION2
    stages: tuple = ()

    def jobdict(self, job, **jobargs):
        d = super().jobdict(job, **jobargs)
        d["pipeline"] = [[name, grouping, False] for name, grouping in self.stages]
        d["inputs"] = [[0, 0, list(i) if isinstance(i, list) else [i]]
                       for i in self.getitem("input", job, jobargs)]
        return d


class ShuffleWorker(StagesWorker):
    """Word count by length parity: map -> node-local shuffle -> reduce per label."""

    stages = (("map", "split"), ("shuffle", "group_node"), ("reduce", "group_label"))

    def stage_map(self, task, inputs):
        [given] = inputs
        inp = self.get_input(given.id)  # asked again from the node
        for line in Input(inp, task=task):  # the first stage: text lines
            for word in line.split():
                self.output(task, len(word) % 2).add(word, 1)

    def stage_shuffle(self, task, inputs):
        label_map = self.labelled_input_map(task, inputs)
        for label in sorted(label_map):
            path, size = self.concat_input(task, label, label_map[label])
            print("shuffled %d map outputs of label %d: %d bytes"
                  % (len(label_map[label]), label, size))

    def stage_reduce(self, task, inputs):
        counts = {}
        for word, n in self.input(task):  # later stages: records
            counts[word] = counts.get(word, 0) + n
        out = self.output(task, task.group_label)
        for word in sorted(counts):
            out.add(word, counts[word])


class ShuffleJob(Job):
    Worker = ShuffleWorker


class ReplicaWorker(StagesWorker):
    """Map reads its lines with ``self.input``; a ``group_all`` stage merges sorted maps."""

    stages = (("map", "split"), ("merge", "group_all"))

    def stage_map(self, task, inputs):
        out = self.output(task)
        for word in sorted(w for line in self.input(task) for w in line.split()):
            out.add(word, task.group_label)

    def stage_merge(self, task, inputs):
        out = self.output(task)
        for word, _label in self.input(task, merged=True):
            out.add(word, len(inputs))


class ReplicaJob(Job):
    Worker = ReplicaWorker


def test_a_users_worker_maps_shuffles_with_concat_input_and_reduces(disco_cluster,
                                                                    http_server):
    job = ShuffleJob().run(input=["raw://the quick fox saw the lazy dog",
                                  http_server.add("b.txt", "a dog\nthe end of it\n")])
    assert job.worker.jobpack_version == JOBPACK_VERSION2
    results = job.wait(timeout=120)
    assert [row[0] for row in job.jobinfo()["pipeline"]] == ["map", "shuffle", "reduce"]
    assert sorted(result_iterator(results)) == [
        ("a", 1), ("dog", 2), ("end", 1), ("fox", 1), ("it", 1), ("lazy", 1), ("of", 1),
        ("quick", 1), ("saw", 1), ("the", 3)]
    # one reduce task per label: words of even length went to label 0, odd to label 1
    by_label = {}
    for [url] in results:
        [(label, _file, _size)] = read_index(url)
        by_label[label] = [word for word, _n in result_iterator([url])]
    assert by_label == {0: ["it", "lazy", "of"],
                        1: ["a", "dog", "end", "fox", "quick", "saw", "the"]}
    # the node-local shuffle concatenated both maps' files of each label
    events = [e[2] for _o, e in job.events()]
    assert any("shuffled 2 map outputs of label 0" in e for e in events)
    assert any("shuffled 2 map outputs of label 1" in e for e in events)


def test_replicas_are_tried_in_order_past_a_bad_first_one(disco_cluster, http_server):
    bad = http_server.url("gone.txt")
    first = http_server.add("first.txt", "pear fig\n")
    second = http_server.add("second.txt", "never read\n")
    job = ReplicaJob().run(input=[[bad, first, second], "raw://kiwi apple"])
    results = job.wait(timeout=120)
    assert list(result_iterator(results)) == [
        ("apple", 2), ("fig", 2), ("kiwi", 2), ("pear", 2)]


# -- the helpers on their own --------------------------------------------------------------
DATA = {"a": ["a1", "a2", "a3"], "b": ["b1"], "c": ["c1", "c2"]}


def _open(url):
    return iter(DATA[url])


def test_serial_input_reads_inputs_one_after_the_other():
    assert list(SerialInput(["a", "b", "c"], open=_open)) == ["a1", "a2", "a3", "b1",
                                                              "c1", "c2"]


def test_parallel_input_takes_one_record_of_each_input_in_turn():
    assert list(ParallelInput(["a", "b", "c"], open=_open)) == [
        "a1", "b1", "c1", "a2", "c2", "a3"]
    assert list(ParallelInput([], open=_open)) == []


def test_merged_input_merges_sorted_inputs_by_key_keeping_input_order_for_ties():
    sorted_inputs = {"x": [(1, {"in": "x"}), (3, {"in": "x"})],
                     "y": [(1, {"in": "y"}), (2, {"in": "y"}), (3, {"in": "y"})],
                     "z": []}
    merged = MergedInput(["x", "y", "z"], open=lambda url: sorted_inputs[url])
    # values (dicts) need not be comparable: equal keys come in the order of the inputs
    assert list(merged) == [(1, {"in": "x"}), (1, {"in": "y"}), (2, {"in": "y"}),
                            (3, {"in": "x"}), (3, {"in": "y"})]
    lines = MergedInput(["l1", "l2"], open=lambda url: {"l1": ["b", "d"], "l2": ["a", "c"]}[url])
    assert list(lines) == ["a", "b", "c", "d"]


def test_input_resumes_on_the_next_replica_after_the_records_already_given():
    opened = []

    def flaky(url):
        opened.append(url)
        for n in range(1, 5):
            if url == "disco://h/broken" and n == 3:
                raise DataError("connection reset", url)
            yield (n, url)

    records = list(Input(["disco://h/broken", "disco://h/good"], open=flaky))
    assert records == [(1, "disco://h/broken"), (2, "disco://h/broken"),
                       (3, "disco://h/good"), (4, "disco://h/good")]
    assert opened == ["disco://h/broken", "disco://h/good"]


def test_input_counts_what_each_replica_gave_before_it_broke():
    breaks_at = {"disco://h/a": 3, "disco://h/b": 5, "disco://h/c": 2}

    def flaky(url):
        for n in range(1, 7):
            if n == breaks_at.get(url):
                raise DataError("connection reset", url)
            yield n

    assert list(Input(["disco://h/a", "disco://h/b", "disco://h/ok"], open=flaky)) == \
        [1, 2, 3, 4, 5, 6]
    with pytest.raises(DataError) as info:
        list(Input(["disco://h/a", "disco://h/b", "disco://h/c"], open=flaky))
    text = str(info.value)
    assert "disco://h/a: " in text and "(after 2 records)" in text
    assert "(after 4 records)" in text  # b resumed after a's 2 and gave 2 more
    assert text.count("(after 4 records)") == 2  # c broke while skipping what was given


def test_input_says_which_replicas_failed_and_why():
    def failing(url):
        raise DataError("HTTP 404", url)

    with pytest.raises(DataError) as info:
        list(Input(IDedInput(4, 0, [(0, "http://h1/x"), (1, "http://h2/x")]), open=failing))
    text = str(info.value)
    assert "no replica of input 4 could be read" in text
    assert "http://h1/x: Unable to access resource (http://h1/x): HTTP 404" in text
    assert "http://h2/x: Unable to access resource (http://h2/x): HTTP 404" in text
    with pytest.raises(DiscoError, match="open=42 is not usable: give a function open"):
        Input("raw://x", open=42)
    with pytest.raises(DiscoError, match="42 is not an input: give an input of the task"):
        Input(42)


class NodeStub:
    """What an IDedInput asks for other replicas: the node's INPUT_ERR answers, recorded."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.reported = []

    def input_failed(self, input_id, rep_ids):
        self.reported.append((input_id, rep_ids))
        return self.answers.pop(0) if self.answers else []


def test_replica_iter_prefers_a_local_replica_then_keeps_the_nodes_order_then_asks():
    task = Task(host="node2", stage="map")
    node = NodeStub([[(3, "http://h4/x")]])
    inp = IDedInput(7, 0, [(0, "http://h1/x"), (1, "disco://node1/disco/x"),
                           (2, "disco://node2/disco/x")], worker=node)
    assert list(ReplicaIter(inp, task)) == ["disco://node2/disco/x", "http://h1/x",
                                            "disco://node1/disco/x", "http://h4/x"]
    # every replica tried is reported when they are used up; the node had one more, then none
    assert node.reported == [(7, [0, 1, 2]), (7, [0, 1, 2, 3])]
    assert list(ReplicaIter(["http://a/x", "http://b/x"], Task(host="c"))) == [
        "http://a/x", "http://b/x"]


def test_ided_input_has_the_originals_attributes():
    node = NodeStub([[(1, "http://b/x")]])
    inp = IDedInput(2, "all", [(0, "http://a/x"), (1, "http://b/x")], worker=node)
    assert (inp.id, inp.label, inp.locations) == (2, "all", ["http://a/x", "http://b/x"])
    assert inp.isindex is False
    assert IDedInput(0, 0, [(0, "dir://host/disco/index")]).isindex is True
    assert inp.unavailable({0}) == [(1, "http://b/x")]
    assert node.reported == [(2, [0])]
    assert IDedInput(0, 0, []).unavailable([0]) == []
    assert str(inp) == "['http://a/x', 'http://b/x']"


def _task(tmp_path, stage="map"):
    return Task(jobfile=str(tmp_path / "jobfile"), jobname="J@1", host="localhost",
                stage=stage, group=(0, "localhost"), taskid=3)


def _records(path):
    with open(path, "rb") as f:
        return list(chain_reader(f, None, path))


def test_output_writes_a_record_file_that_appears_when_closed(tmp_path):
    task = _task(tmp_path)
    out = Output(task.output(3))
    assert (out.path, out.type, out.label) == (task.output_path(3), "disco", 3)
    out.add("k", 1)
    out.append(("r", [2]))
    out.file.add("f", 3)
    assert not (tmp_path / task.taskpath / task.output_filename(3)).exists()
    out.close()
    assert _records(out.path) == [("k", 1), ("r", [2]), ("f", 3)]
    assert out.nonempty() and str(out) == "(%s, disco)" % out.path

    dropped = Output(task.output(4))
    dropped.add("x", 1)
    dropped.abort()
    assert not (tmp_path / task.taskpath / task.output_filename(4)).exists()

    plain = Output((str(tmp_path / "plain.txt"), "part", None), open=lambda p: open(p, "w"))
    plain.file.write("hello\n")
    plain.close()
    assert plain.label == 0 and (tmp_path / "plain.txt").read_text() == "hello\n"


def test_base_output_checks_what_it_is_given(tmp_path):
    assert BaseOutput((str(tmp_path / "o"), "disco", None)).label == 0
    with pytest.raises(DiscoError, match="output labels must be non-negative integers, "
                                         "got 'x'"):
        BaseOutput(("/p", "disco", "x"))
    with pytest.raises(DiscoError, match="an output is a \\(path, type, label\\) triple"):
        BaseOutput("/just/a/path")


def test_worker_output_is_one_object_per_label_finished_when_the_stage_ends(tmp_path):
    task = _task(tmp_path)
    worker = Worker()
    worker.task = task
    out = worker.output(task)
    assert worker.output(task, 0) is out and worker.output(task, partition=0) is out
    out.add("a", 1)
    worker.output(task, 2).add("b", 2)
    worker.close_outputs()
    assert [(label, size > 0) for label, _rel, size in worker.outputs] == [(0, True), (2, True)]
    assert _records(task.output_path(2)) == [("b", 2)]
    with pytest.raises(DiscoError, match="output labels must be non-negative integers"):
        worker.output(task, -1)


def test_concat_input_copies_inputs_byte_for_byte_past_a_bad_replica(tmp_path):
    task = _task(tmp_path, stage="shuffle")
    (tmp_path / "one").write_bytes(b"\x00first\xff")
    (tmp_path / "two").write_bytes(b"second")
    worker = Worker()
    worker.task = task
    path, size = worker.concat_input(task, 5, [
        ["file://%s" % (tmp_path / "missing"), "file://%s" % (tmp_path / "one")],
        "file://%s" % (tmp_path / "two")])
    assert path == task.output_path(5) and size == 13
    assert open(path, "rb").read() == b"\x00first\xffsecond"
    assert worker.outputs == [(5, task.relpath(path), 13)]
    with pytest.raises(DiscoError, match="output 5 of task .* is already written: "
                                         "concatenate every input of a label in one"):
        worker.concat_input(task, 5, [])
    with pytest.raises(DataError, match="no replica could be read for output 6"):
        worker.concat_input(task, 6, [["file://%s" % (tmp_path / "missing")]])
    assert not (tmp_path / task.taskpath / task.output_filename(6)).exists()


def test_labelled_input_map_groups_replica_lists_by_label():
    worker = Worker()
    inputs = [IDedInput(0, 1, [(0, "raw://a")]),
              IDedInput(1, 2, [(0, "http://h1/b"), (1, "http://h2/b")]),
              IDedInput(2, 1, [(0, "raw://c")])]
    assert dict(worker.labelled_input_map(Task(host="h"), inputs)) == {
        1: [["raw://a"], ["raw://c"]], 2: [["http://h1/b", "http://h2/b"]]}


class ScriptedNode:
    """The node's side of the protocol for a unit: canned replies, requests recorded."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.requests = []

    def request(self, name, payload="", expect=()):
        self.requests.append((name, payload))
        return self.replies.pop(0)


def test_get_task_get_inputs_and_get_input_speak_the_protocol():
    worker = Worker()
    worker.proto = ScriptedNode([
        ("TASK", {"taskid": 9, "stage": "reduce", "group": [2, "h"], "host": "h",
                  "jobname": "J@1", "jobfile": "/j/jobfile"}),
        ("INPUT", ["more", [[0, "ok", 2, [[0, "disco://h/a"]]]]]),
        ("INPUT", ["done", [[2, "ok", 2, [[0, "disco://h/c"], [1, "disco://g/c"]]]]]),
        ("INPUT", ["done", [[1, "ok", 2, [[1, "http://y/b"], [0, "http://x/b"]]]]]),
        ("INPUT", ["done", []]),
    ])
    task = worker.get_task()
    assert (task.taskid, task.stage, task.group_label, task.jobname) == (9, "reduce", 2, "J@1")
    inputs = worker.get_inputs(exclude=[1])
    assert [(i.id, i.locations) for i in inputs] == [
        (0, ["disco://h/a"]), (2, ["disco://h/c", "disco://g/c"])]
    assert all(i.worker is worker for i in inputs)
    again = worker.get_input(1)
    assert again.replicas == [(1, "http://y/b"), (0, "http://x/b")]
    with pytest.raises(DiscoError, match="the task has no input 7: its inputs are numbered"):
        worker.get_input(7)
    assert worker.proto.requests == [("TASK", ""), ("INPUT", ["exclude", [1]]),
                                     ("INPUT", ["exclude", [0, 1]]),
                                     ("INPUT", ["include", [1]]), ("INPUT", ["include", [7]])]
    with pytest.raises(DiscoError, match="INPUT is sent from a running task"):
        Worker().get_inputs()


class OwnBin(Worker):
    @property
    def bin(self):
        return "bin/my_worker"


def test_bin_names_the_worker_program_in_the_jobdict_and_main_is_a_classmethod():
    job = Job(name="Named")
    assert Worker().bin == LAUNCHER
    assert Worker().jobdict(job)["worker"] == LAUNCHER
    assert OwnBin().jobdict(job)["worker"] == "bin/my_worker"
    assert inspect.ismethod(Worker.main) and Worker.main.__self__ is Worker


class _BreaksAfter(io.RawIOBase):
    """The bytes of ``data``; with ``limit``, an OSError once that many were read."""

    def __init__(self, data, limit=None):
        self.data, self.pos, self.limit = data, 0, limit

    def readable(self):
        return True

    def readinto(self, buf):
        if self.limit is not None and self.pos >= self.limit:
            raise OSError("connection reset")
        end = len(self.data) if self.limit is None else self.limit
        n = min(len(buf), end - self.pos, 1000)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("as_text", [True, False])
def test_a_text_input_read_in_blocks_resumes_on_the_next_replica_without_a_line_twice(as_text):
    # text streams hand their lines over a block at a time: a replica that breaks after
    # some blocks is resumed after exactly the lines already given
    from disco_core.worker import inout
    lines = [("%d line of replica data\n" % i).encode() for i in range(20000)]
    data = b"".join(lines)
    cut = 5 * inout.LINES_BLOCK + 17  # in the middle of a line of the sixth block

    def stream_of(url):
        raw = _BreaksAfter(data, cut if url.endswith("broken") else None)
        binary = io.BufferedReader(raw)
        return text_stream(binary) if as_text else binary

    want = [line.decode() for line in lines] if as_text else lines
    got = list(Input(["disco://h/broken", "disco://h/good"], open=stream_of))
    assert got == want
    with pytest.raises(DataError) as info:
        list(Input(["disco://h/broken"], open=stream_of))
    import re
    given = int(re.search(r"broken: .*\(after (\d+) records\)", str(info.value)).group(1))
    assert 0 < given <= data[:cut].count(b"\n")  # whole blocks only, none read ahead


def test_a_text_view_dropped_leaves_its_bytes_open_and_reads_lines_as_io_does(tmp_path):
    import gc
    path = tmp_path / "lines.txt"
    path.write_bytes(b"one\r\ntwo\nthree")
    binary = open(path, "rb")
    view = text_stream(binary)
    assert type(view) is io.TextIOWrapper  # iterated at the io module's own speed
    assert next(view) == "one\r\n"
    buffer = view.buffer
    del view
    gc.collect()
    assert not buffer.closed  # a reader may go on with fd.buffer after letting go of fd
    again = text_stream(buffer)
    del again
    gc.collect()
    assert not buffer.closed
    buffer.close()
