"""Rebalancing by disk use during GC (``DDFS_GC_BALANCE_THRESHOLD``) on real loopback
nodes. The nodes share this machine's disk, so each volume is given a capacity
(``DDFS_VOLUME_CAPACITY``): a node's disk use is then the bytes of its own files against it,
and pushing every blob to one node makes that node over-used and the others under-used.

A run moves blobs from the over-used node to the under-used ones until it is within the
threshold, and at no moment while it does is a blob without a replica on disk or in its tag;
every blob reads back the same afterwards, the old replicas are gone, the GC stats count the
moves and ``gc_balance`` (``ddfs gc``, the GC panel) shows the disks' use and the moves.
A threshold the disks do not pass moves nothing."""
import io
import logging
import os
import signal
import threading

from disco.ddfs import DDFS
from disco_core.settings import DiscoSettings
from disco_core.testing import running_cluster, wait_for
from disco_plugin_ddfs.balance import plan_moves
from disco_plugin_ddfs.node import volume_capacity
from disco_plugin_ddfs.replicate import BlobMap

FULL = "127.0.0.2"
OTHERS = ["127.0.0.3", "127.0.0.4", "127.0.0.5"]
CAPACITY = 4 << 20
BLOB = 256 << 10


def ctrl(ddfs, op):
    return ddfs._request("GET", "/ddfs/ctrl/" + op)


def gc_runs(ddfs):
    return ddfs._request("GET", "/ddfs/ctrl/drain_status", query={"host": FULL})["runs"]


def run_gc(ddfs):
    """A GC run from its start to its end (a master just started may not have begun it
    when its status is still empty)."""
    before = gc_runs(ddfs)
    assert ctrl(ddfs, "gc_start") == "GC has started"
    wait_for(lambda: gc_runs(ddfs) > before and ctrl(ddfs, "gc_status") == "", timeout=120,
             interval=0.1)
    return ctrl(ddfs, "gc_stats")


def on_disk(cluster, hosts):
    """``blob name -> hosts`` holding a stored replica, the hosts read in the order given."""
    out = {}
    for host in hosts:
        top = os.path.join(cluster.home, "root", "ddfs", host)
        for folder, _dirs, files in os.walk(top):
            if os.path.basename(os.path.dirname(folder)) != "blob":
                continue
            for name in files:
                if not name.startswith("!"):
                    out.setdefault(name, set()).add(host)
    return out


def tagged_hosts(tag):
    return {r[0].rsplit("/", 1)[1]: [u.split("/")[2] for u in r] for r in DDFS().urls(tag)}


def push_to_full(n, tag, size=BLOB):
    blobs = {}
    for i in range(n):
        data = os.urandom(size)
        _reply, [replicas] = DDFS().push(tag, [(io.BytesIO(data), "part%d" % i)],
                                         forceon=[FULL])
        blobs[replicas[0].rsplit("/", 1)[1]] = data
    return blobs


def kill_master(cluster):
    """``kill -9`` of the master process; back once it is gone."""
    settings = DiscoSettings(cluster.env)
    with open(os.path.join(settings["DISCO_PID_DIR"], "%s.pid" % settings["DISCO_NAME"])) as f:
        pid = int(f.read())
    os.kill(pid, signal.SIGKILL)

    def gone():
        try:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except FileNotFoundError:
            return True
    wait_for(gone, timeout=10)


def start(hosts, threshold=None, capacity=CAPACITY):
    env = {"DDFS_VOLUME_CAPACITY": str(capacity), "DDFS_GC_INITIAL_WAIT": "60"}
    if threshold is not None:
        env["DDFS_GC_BALANCE_THRESHOLD"] = str(threshold)
    return running_cluster(hosts=[(h, 1) for h in hosts], extra_env=env)


def test_an_over_used_node_gives_blobs_to_under_used_ones_never_leaving_one_without_a_copy():
    with start([FULL] + OTHERS) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        blobs = push_to_full(12, "test:balance:data")  # FULL: 3 of 4 MB, the others none
        assert set(on_disk(cluster, [FULL] + OTHERS)) == set(blobs)

        gaps, polls, stop = [], [], threading.Event()

        def watch():  # the over-used node first: its replica goes only after the new one
            while not stop.is_set():
                polls.append(1)
                disk = on_disk(cluster, [FULL] + OTHERS)
                gaps.extend(name for name in blobs if not disk.get(name))
                tags = tagged_hosts("test:balance:data")
                gaps.extend(name for name in blobs if not tags.get(name))
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            stats = run_gc(DDFS())
        finally:
            stop.set()
            watcher.join()
        assert gaps == [] and polls

        assert sorted(stats["stats"]) == ["Blobs deleted", "Blobs kept", "Tags deleted",
                                          "Tags kept"]  # the reference's, no more
        balance = ctrl(DDFS(), "gc_balance")
        moved, size = len(balance["moved"]), balance["bytes"]
        assert balance["over"] == [FULL] and sorted(balance["under"]) == OTHERS
        assert balance["threshold"] == 0.1 and balance["use"][FULL] > 0.7
        # from 3 MB to within 0.1 of the average (0.19 of 4 MB): 8 blobs of 256 KB
        assert moved == 8 and size == 8 * BLOB
        assert {src for _name, src, _url in balance["moved"]} == {FULL}

        tags = tagged_hosts("test:balance:data")
        disk = on_disk(cluster, [FULL] + OTHERS)
        assert all(len(hosts) == 1 for hosts in tags.values())
        assert {name: set(hosts) for name, hosts in tags.items()} == disk
        counts = {h: sum(hosts == [h] for hosts in tags.values()) for h in [FULL] + OTHERS}
        assert counts[FULL] == 4 and sorted(counts[h] for h in OTHERS) == [2, 3, 3]
        for conn in DDFS().pull("test:balance:data"):
            assert conn.read() == blobs[conn.url.rsplit("/", 1)[1]]

        again = cluster.cli("ddfs", "gc").stdout  # balanced now: nothing moves
        assert "over-used: none; under-used: none; blobs moved: 0 (0 bytes)" in again
        assert ctrl(DDFS(), "gc_balance")["over"] == []
        assert tagged_hosts("test:balance:data") == tags


def test_a_master_killed_while_blobs_move_leaves_every_blob_its_replica():
    with start([FULL] + OTHERS, capacity=8 * CAPACITY) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        blobs = push_to_full(12, "test:balance:killed", size=8 * BLOB)
        assert ctrl(DDFS(), "gc_start") == "GC has started"
        wait_for(lambda: on_disk(cluster, OTHERS), timeout=60, interval=0.005)
        kill_master(cluster)  # a copy is made: the tags and the old replicas not yet done
        disk = on_disk(cluster, [FULL] + OTHERS)
        assert all(disk.get(name) for name in blobs)
        cluster.cli("start")
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        disk = on_disk(cluster, [FULL] + OTHERS)
        tags = tagged_hosts("test:balance:killed")
        assert set(tags) == set(blobs)
        assert all(set(hosts) & disk[name] for name, hosts in tags.items())

        run_gc(DDFS())  # the next run finishes the job, copies made before included
        tags = tagged_hosts("test:balance:killed")
        disk = on_disk(cluster, [FULL] + OTHERS)
        assert {name: set(hosts) for name, hosts in tags.items()} == disk
        assert all(len(hosts) == 1 for hosts in tags.values())
        for conn in DDFS().pull("test:balance:killed"):
            assert conn.read() == blobs[conn.url.rsplit("/", 1)[1]]
        run_gc(DDFS())
        assert ctrl(DDFS(), "gc_balance")["over"] == []  # balanced


def test_a_node_killed_while_blobs_move_to_it_loses_none_and_the_next_run_settles():
    tag = "test:balance:nodekill"
    with start([FULL] + OTHERS, capacity=8 * CAPACITY) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        blobs = push_to_full(12, tag, size=8 * BLOB)

        gaps, polls, stop = [], [], threading.Event()

        def watch():  # a tag names, at every moment, a replica that is on disk
            while not stop.is_set():
                before = on_disk(cluster, [FULL] + OTHERS)
                tags = tagged_hosts(tag)
                after = on_disk(cluster, [FULL] + OTHERS)
                polls.append(1)
                gaps.extend(name for name in blobs if not set(tags.get(name, ())) & (
                    before.get(name, set()) | after.get(name, set())))
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            runs = gc_runs(DDFS())
            assert ctrl(DDFS(), "gc_start") == "GC has started"
            wait_for(lambda: on_disk(cluster, OTHERS), timeout=60, interval=0.005)
            target = sorted({h for hosts in on_disk(cluster, OTHERS).values()
                             for h in hosts})[0]
            [pid] = cluster.node_pids(target)
            os.kill(pid, signal.SIGKILL)  # a copy to it is made, others may be on their way
            wait_for(lambda: gc_runs(DDFS()) > runs and ctrl(DDFS(), "gc_status") == "",
                     timeout=180, interval=0.1)
        finally:
            stop.set()
            watcher.join()
        assert gaps == [] and polls

        # the master starts the node again; the next run finishes what the killed one left
        wait_for(lambda: set(cluster.node_pids(target)) - {pid}, timeout=60)
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        run_gc(DDFS())
        tags = tagged_hosts(tag)
        disk = on_disk(cluster, [FULL] + OTHERS)
        assert set(tags) == set(blobs)
        assert {name: set(hosts) for name, hosts in tags.items()} == disk
        assert all(len(hosts) == 1 for hosts in tags.values())
        for conn in DDFS().pull(tag):
            assert conn.read() == blobs[conn.url.rsplit("/", 1)[1]]
        run_gc(DDFS())
        assert ctrl(DDFS(), "gc_balance")["over"] == []  # balanced
        assert tagged_hosts(tag) == tags


def test_disks_within_the_threshold_move_nothing():
    with start([FULL, OTHERS[0]], threshold=0.5) as cluster:
        wait_for(lambda: all(n["connected"] for n in cluster.disco.nodeinfo().values()),
                 timeout=60)
        blobs = push_to_full(8, "test:balance:kept")  # 2 of 4 MB against none: 0.5 apart
        run_gc(DDFS())
        balance = ctrl(DDFS(), "gc_balance")
        assert balance["over"] == [] and balance["under"] == [] and balance["moved"] == []
        assert balance["use"][FULL] >= 0.5 and balance["threshold"] == 0.5
        assert all(hosts == [FULL] for hosts in tagged_hosts("test:balance:kept").values())
        assert set(on_disk(cluster, [FULL, OTHERS[0]])) == set(blobs)
        assert on_disk(cluster, [OTHERS[0]]) == {}


# -- the plan, without a cluster -----------------------------------------------------------

def blob_map(placed, size=10):
    bmap = BlobMap()
    for host in {h for hosts in placed.values() for h in hosts}:
        bmap.add_node(host, {name: ["%s/vol0/blob/00/%s" % (host, name), size, 0]
                             for name, hosts in placed.items() if host in hosts})
    bmap.add_tags({"t": {"urls": [["disco://%s/ddfs/%s/vol0/blob/00/%s" % (h, h, n)
                                   for h in hosts] for n, hosts in placed.items()]}})
    return bmap


def test_a_plan_moves_to_the_least_used_and_never_past_the_average():
    placed = {"b%d" % i: ["a"] for i in range(8)}
    placed.update({"c0": ["b"], "c1": ["b", "a"]})
    bmap = blob_map(placed)
    bmap.add_node("c", {})
    space = {"a": (20, 80), "b": (75, 25), "c": (100, 0)}
    plan = plan_moves(bmap, 1, ["a", "b", "c"], set(), space, 0.1, lambda n, h: True)
    assert plan.over == ["a"] and plan.under == ["c"]  # b is 0.1 below the average, not more
    assert abs(plan.average - 0.35) < 1e-9
    # each blob is 0.1 of a disk: "c" takes three before a fourth would pass the average
    assert [(m.name, m.source, m.target) for m in plan.moves] == \
        [("b0", "a", "c"), ("b1", "a", "c"), ("b2", "a", "c")]
    # a threshold not passed moves nothing; gc-blacklisted or unheard nodes are not weighed
    assert plan_moves(bmap, 1, ["a", "b", "c"], set(), space, 0.5,
                      lambda n, h: True).moves == []
    plan = plan_moves(bmap, 1, ["a", "b", "c"], {"c"}, space, 0.1, lambda n, h: True)
    assert "c" not in plan.use and {m.target for m in plan.moves} == {"b"}
    assert plan_moves(bmap, 1, ["a", "b"], set(), {"a": (20, 80)}, 0.1,
                      lambda n, h: True).use == {"a": 0.8}


def test_a_plan_leaves_blobs_short_of_replicas_or_on_a_bad_volume_alone():
    bmap = blob_map({"x": ["a"], "y": ["a"], "z": ["a", "b"]})
    bmap.add_node("c", {})
    space = {"a": (0, 100), "b": (100, 0), "c": (100, 0)}
    plan = plan_moves(bmap, 2, ["a", "b", "c"], set(), space, 0.1, lambda n, h: True)
    assert [m.name for m in plan.moves] == ["z"]  # x and y lack their second replica
    plan = plan_moves(bmap, 1, ["a", "b", "c"], set(), space, 0.1,
                      lambda n, h: (n, h) != ("y", "a"), busy={"x"})
    assert plan.moves == []  # x is copied already, y's replica is bad, z has one too many
    plan = plan_moves(bmap, 1, ["a", "b", "c"], set(), space, 0.1, lambda n, h: True)
    assert [m.name for m in plan.moves] == ["x", "y"]


def test_a_bad_volume_capacity_is_named_and_left_out(caplog):
    with caplog.at_level(logging.ERROR):
        assert volume_capacity("lots") == 0 and volume_capacity("-5") == 0
    assert "DDFS_VOLUME_CAPACITY='lots' is not a number of bytes" in caplog.text
    assert volume_capacity("") == 0 and volume_capacity("1e6") == 1000000
