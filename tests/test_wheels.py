"""Core and the plugins as built wheels: every distribution builds, and wheels installed from a
folder into a fresh virtualenv, away from the source tree, run a cluster and its jobs; a
plugin whose wheel is not in the folder is named by the errors that need it."""
import os
import textwrap
import zipfile

import pytest
import wheelhouse

from disco_core.testing import running_cluster

# core and the plugins that need no other download (redis's client, pydiscodb)
CHOSEN = wheelhouse.plain_projects()
LEFT_OUT = "disco-plugin-hdfs"

JOB = textwrap.dedent('''
    import sys
    from disco.core import Job, result_iterator

    def map(line, params):
        for word in line.split():
            yield word, 1

    def reduce(iter, params):
        from disco.util import kvgroup
        for word, counts in kvgroup(sorted(iter)):
            yield word, sum(counts)

    if __name__ == "__main__":
        try:
            job = Job().run(input=sys.argv[1:], map=map, reduce=reduce)
            for word, count in sorted(result_iterator(job.wait())):
                print(word, count)
        except Exception as exc:
            print("ERROR", exc)
''')


@pytest.fixture
def webhdfs(tmp_path):
    from disco_plugin_hdfs.testing import WebHDFSServer
    server = WebHDFSServer(str(tmp_path / "hdfs"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("wheels"))
    wheelhouse.build_wheels(list(wheelhouse.projects()), folder)
    return folder


def test_every_distribution_builds_a_wheel_with_its_entry_points(wheels):
    built = {f.split("-")[0].replace("_", "-"): f for f in os.listdir(wheels)}
    assert sorted(built) == sorted(wheelhouse.projects())
    with zipfile.ZipFile(os.path.join(wheels, built["disco-plugin-hdfs"])) as z:
        names = z.namelist()
        points = z.read("disco_plugin_hdfs-0.6.0.dist-info/entry_points.txt").decode()
    assert "disco_plugin_hdfs/scheme.py" in names
    assert not any(n.startswith("tests/") for n in names)
    assert "[disco.schemes]\nhdfs = disco_plugin_hdfs.scheme:scheme" in points
    with zipfile.ZipFile(os.path.join(wheels, built["disco-core"])) as z:
        names = z.namelist()
    assert "disco_core/master/app.py" in names and "disco/core.py" in names
    assert not any(n.startswith(("plugins/", "tests/")) for n in names)


def test_wheels_in_a_fresh_virtualenv_run_a_job_and_name_the_missing_plugin(
        wheels, tmp_path, webhdfs):
    deps = wheelhouse.dependency_wheels()
    folder = tmp_path / "folder"  # the wheel folder, without one plugin's wheel
    folder.mkdir()
    for name in os.listdir(wheels):
        if not name.startswith(LEFT_OUT.replace("-", "_") + "-"):
            os.link(os.path.join(wheels, name), folder / name)
    work = str(tmp_path / "work")
    venv = wheelhouse.Venv(str(tmp_path / "venv"), work)
    chosen = [name for name in CHOSEN if name != LEFT_OUT]
    venv.install("-f", str(folder), "-f", deps, *chosen)
    with open(os.path.join(work, "wordcount.py"), "w") as f:
        f.write(JOB)

    where = venv.run("python", "-c", "import disco_core, disco; "
                     "print(disco_core.__file__); print(disco.__file__)").stdout.split()
    assert all(path.startswith(venv.path + os.sep) for path in where), where

    listed = venv.run("disco", "plugins").stdout
    for name in chosen:
        assert name in listed
    assert LEFT_OUT not in listed and "error" not in listed.lower()
    assert "DISCO_HDFS_USER" not in venv.run("disco", "-v").stdout

    hdfs = webhdfs.put("/books/a.txt", "the cat\nthe hat\n")
    with running_cluster(bindir=venv.bindir, cwd=work):
        got = venv.run("python", "wordcount.py", "raw://the end the").stdout
        assert got.split("\n")[:2] == ["end 1", "the 2"]
        got = venv.run("python", "wordcount.py", hdfs).stdout
        assert "no plugin handles 'hdfs://': pip install disco-plugin-hdfs" in got

    # the missing wheel put in the folder, and installed by name from it
    os.link(os.path.join(wheels, [n for n in os.listdir(wheels)
                                  if n.startswith("disco_plugin_hdfs-")][0]),
            folder / "disco_plugin_hdfs-0.6.0-py3-none-any.whl")
    venv.install("-f", str(folder), "-f", deps, LEFT_OUT)
    assert LEFT_OUT in venv.run("disco", "plugins").stdout
    assert "DISCO_HDFS_USER = " in venv.run("disco", "-v").stdout
    with running_cluster(bindir=venv.bindir, cwd=work):
        got = venv.run("python", "wordcount.py", hdfs).stdout
        assert got.split("\n")[:3] == ["cat 1", "hat 1", "the 2"], got
