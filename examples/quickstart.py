"""Start a one-machine cluster, run the front-page word count on examples/data/chekhov.txt
(served over HTTP on localhost:8900, as the program expects), print the counts, and stop the
cluster again (unless it was already running)."""
import functools
import http.server
import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)


def disco(*args):
    return subprocess.run([os.path.join(BIN, "disco"), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log line amid the job's progress
        pass


def main():
    handler = functools.partial(QuietHandler, directory=os.path.join(HERE, "data"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 8900), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = "running" not in disco("status")
    if started:
        print(disco("start"))
    try:
        code = subprocess.call([sys.executable, os.path.join(HERE, "wordcount.py")])
    finally:
        if started:
            print(disco("stop"))
        server.shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
