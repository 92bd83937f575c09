"""``disco.worker.task_io``."""
from disco_core.worker.task_io import *  # noqa: F401,F403
from disco_core.worker.task_io import (DiscoPlainOut, InputStream, OutputStream,  # noqa: F401
                                       StreamCombiner, chain_reader, disco_input_stream,
                                       disco_output_stream, gzip_line_reader, gzip_reader,
                                       old_netstr_reader, plain_output_stream, re_reader,
                                       task_input_stream, task_output_stream)
