"""The seed's programs run unchanged on a real one-machine cluster."""
import os
import subprocess
import sys

from disco.core import Job, result_iterator

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def map(line, params):
    for word in line.split():
        yield word, 1


def reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def test_front_page_word_count(disco_cluster, http_server):
    url = http_server.add("chekhov.txt", "word word other\nword third other\n")
    job = Job().run(input=[url], map=map, reduce=reduce)
    results = list(result_iterator(job.wait(timeout=120)))
    assert results == [("other", 2), ("third", 1), ("word", 3)]
    assert all(isinstance(w, str) for w, _ in results)


def test_front_page_program_file_prints_counts(disco_cluster, http_server, tmp_path):
    # the seed program, verbatim but for its input URL
    with open(os.path.join(EXAMPLES, "wordcount.py")) as f:
        source = f.read()
    url = http_server.add("chekhov.txt", "a rose is a rose\n")
    program = tmp_path / "wordcount.py"
    program.write_text(source.replace("http://localhost:8900/chekhov.txt", url))
    out = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["a 2", "is 1", "rose 2"]


def test_faq_chain_of_ten_jobs(disco_cluster, tmp_path):
    chain_dir = os.path.join(EXAMPLES, "faq")
    out = subprocess.run([sys.executable, "chain.py"], cwd=chain_dir, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name = out.stdout.strip().splitlines()[-1]
    assert name.startswith("ChainJob@")
    results = disco_cluster.disco.wait(name, timeout=120)
    assert sorted(result_iterator(results)) == [(10, ""), (10, "")]
