"""Job modules named like standard library modules the worker itself uses.

A job's own modules travel in its job home's ``lib/``, which comes first on the task's
``sys.path``. A user module called ``profile``, ``json`` or ``pstats`` must be what the job's
code (and the pickled job naming it) gets, while the worker keeps the standard one.
"""
import os
import shutil
import subprocess
import sys

from disco.core import Job, result_iterator
from disco_core.testing import running_cluster
from disco_core.worker.jobpath import shadowed_names

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
FAQ_COMMAND = ("disco run profile.ProfileJob %s | xargs disco wait && "
               "xargs disco pstats -k cumulative")


def test_the_faq_profile_example_runs_verbatim(disco_cluster, http_server, tmp_path):
    """The FAQ's command line, from the folder holding ``profile.py``. Its second ``xargs``
    reads the shell's own input, where the user gives the job (here ``@``, the newest)."""
    folder = tmp_path / "faq"
    folder.mkdir()
    shutil.copy(os.path.join(EXAMPLES, "faq", "profile.py"), str(folder))
    url = http_server.add("data", "first line\nsecond line\n")
    env = dict(os.environ)
    env.update(disco_cluster.env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(["sh", "-c", FAQ_COMMAND % url], cwd=str(folder), env=env,
                          input="@\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "function calls" in proc.stdout
    assert "cumulative" in proc.stdout  # the sort order the command asked for
    assert "map" in proc.stdout  # the job's own function was profiled
    [results] = [line for line in proc.stdout.splitlines() if line.startswith("dir://")]
    assert sorted(result_iterator([results.split("\t")])) == [("first line", 1),
                                                              ("second line", 1)]


def run_shadowing_job(cluster, tmp_path):
    (tmp_path / "json.py").write_text("def dumps(value):\n    return 'user-json:%s' % value\n")
    (tmp_path / "pstats.py").write_text("MARK = 'user-pstats'\n")
    (tmp_path / "pickle.py").write_text("MARK = 'user-pickle'\n")

    def map(line, params):
        import json
        import pickle
        import pstats
        yield json.dumps(line), pstats.MARK + " " + pickle.MARK

    job = Job().run(input=["raw://x"], map=map, profile=True,
                    required_modules=[(name, str(tmp_path / (name + ".py")))
                                      for name in ("json", "pstats", "pickle")])
    assert list(result_iterator(job.wait(timeout=120))) == [
        ("user-json:x", "user-pstats user-pickle")]
    assert "function calls" in cluster.cli("pstats", job.name).stdout


def test_user_modules_named_json_pickle_and_pstats(disco_cluster, tmp_path):
    """``json`` carries the worker's protocol, ``pickle`` loads the job and ``pstats`` sits
    beside its profiler: they keep working for the worker while the job's code gets the
    user's modules of those names."""
    run_shadowing_job(disco_cluster, tmp_path)


def test_user_modules_named_like_standard_ones_without_the_fork_server(tmp_path):
    """The same through the job home's launcher script, a fresh interpreter per task."""
    with running_cluster(extra_env={"DISCO_WORKER_FORK": "0"}) as cluster:
        run_shadowing_job(cluster, tmp_path)


def test_shadowed_names_are_what_lib_would_win(tmp_path):
    for name in ("json.py", "profile.py", "sys.py", "os.py", "notes.txt"):
        (tmp_path / name).write_text("")
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "__init__.py").write_text("")
    (tmp_path / "namespace").mkdir()
    assert shadowed_names(str(tmp_path)) == ["email", "json", "profile"]
