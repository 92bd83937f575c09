"""``DISCO_PROXY``: a client that can reach only the master gets a job's results and their
data through it. The master hands ``/proxy/<host>[:<port>]/<METHOD>/<path>`` on to that
node's data server; a client with the setting sends there every request for a host of the
node table. The client runs in a process whose sockets reach the master's port alone."""
import json
import os
import subprocess
import sys
import textwrap
import urllib.error

import pytest

from disco.core import Job
from disco.worker.classic.func import sum_reduce
from disco_core import comm
from disco_core.testing import running_cluster

NODE = "127.0.0.2"


def words(line, params):
    for word in line.split():
        yield word, 1


@pytest.fixture(scope="module")
def cluster():
    with running_cluster(hosts=[(NODE, 1)]) as c:
        yield c


@pytest.fixture(scope="module")
def job(cluster):
    job = Job(name="Proxied").run(input=["raw://alpha beta beta", "raw://gamma beta"],
                                  map=words, reduce=sum_reduce, partitions=2)
    results = job.wait(timeout=120)
    assert all(NODE in str(r) for r in results), results
    return job


# Refuses every connection but to the master's port on loopback: a client outside the
# cluster, whose nodes it cannot reach.
ONLY_THE_MASTER = textwrap.dedent("""
    import json, socket, sys
    port = int(sys.argv[1])
    connect = socket.socket.connect
    def guarded(self, address):
        if address[:2] not in (("127.0.0.1", port), ("::1", port)):
            raise ConnectionRefusedError("only the master's port is reachable, not %r"
                                         % (address,))
        return connect(self, address)
    socket.socket.connect = guarded
    from disco.core import Disco
    disco = Disco()
    results = disco.wait(sys.argv[2], timeout=60)
    print(json.dumps(sorted(disco.result_iterator(results))))
""")


def client(cluster, job, proxy):
    """Runs the client; with a proxy, DISCO_MASTER names a host it cannot reach (the master's
    address inside the cluster), without one the master itself."""
    env = dict(os.environ, **cluster.env)
    master = "http://master-not-reachable:%d" % cluster.port if proxy else cluster.master
    env.update(DISCO_PROXY=proxy, DISCO_MASTER=master)
    return subprocess.run([sys.executable, "-c", ONLY_THE_MASTER, str(cluster.port), job.name],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_client_reaching_only_the_master_reads_results_through_it(cluster, job):
    proc = client(cluster, job, "http://localhost:%d" % cluster.port)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["alpha", 1], ["beta", 3], ["gamma", 1]]


def test_without_the_proxy_that_client_cannot_read_them(cluster, job):
    proc = client(cluster, job, "")  # it reaches the master, not the node with the data
    assert proc.returncode != 0
    assert "only the master's port is reachable, not ('%s'" % NODE in proc.stderr


def test_the_proxy_route_hands_on_a_nodes_data(cluster, job):
    url = job.wait(timeout=60)[0]
    url = url[0] if isinstance(url, list) else url
    path = url.split("/", 3)[3]
    with cluster.urlopen("/proxy/%s/GET/%s" % (NODE, path)) as reply:
        through = reply.read()
    with cluster.urlopen("/proxy/%s:%d/GET/%s" % (NODE, cluster.port, path)) as reply:
        assert reply.read() == through
    assert through == comm.request("GET", "http://%s:%d/%s" % (NODE, cluster.port, path))
    assert through


@pytest.mark.parametrize("path, method, code, message", [
    ("/proxy/elsewhere/GET/disco/x", "GET", 404, "elsewhere is not a node of this cluster"),
    ("/proxy/%s/PUT/disco/x" % NODE, "GET", 400, "names the method PUT but the request is"),
    ("/proxy/%s:http/GET/disco/x" % NODE, "GET", 400, "is not a host or host:port"),
])
def test_the_proxy_route_refuses_what_is_not_a_node_request(cluster, path, method, code,
                                                            message):
    with pytest.raises(urllib.error.HTTPError) as err:
        cluster.urlopen(path, method=method)
    assert err.value.code == code
    assert message in err.value.read().decode()


def test_the_proxy_route_needs_the_token(cluster, job):
    import urllib.request
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.master + "/proxy/%s/GET/disco/x" % NODE, timeout=30)
    assert err.value.code in (401, 403)


def test_only_urls_of_the_clusters_nodes_go_through_the_proxy(cluster):
    proxy = "http://localhost:%d" % cluster.port
    node_url = "http://%s:%d/disco/%s/ab/j/out?x=1" % (NODE, cluster.port, NODE)
    assert comm.through_proxy(node_url, proxy=proxy) == \
        "%s/proxy/%s:%d/GET/disco/%s/ab/j/out?x=1" % (proxy, NODE, cluster.port, NODE)
    assert comm.through_proxy(node_url, "PUT", proxy=proxy).startswith(
        "%s/proxy/%s:%d/PUT/" % (proxy, NODE, cluster.port))
    for url in ("http://example.com/data", proxy + "/disco/ctrl/joblist",
                "https://%s/x" % NODE):
        assert comm.through_proxy(url, proxy=proxy) == url
    assert comm.through_proxy(node_url, proxy="") == node_url
