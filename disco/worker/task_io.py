"""``disco.worker.task_io``."""
from disco_core.worker.task_io import *  # noqa: F401,F403
from disco_core.worker.task_io import (chain_reader, disco_input_stream,  # noqa: F401
                                       disco_output_stream, gzip_line_reader, gzip_reader,
                                       task_input_stream, task_output_stream)
