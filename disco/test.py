"""``disco.test``: unittest cases, jobs and an input server for testing jobs on a cluster."""
from disco_core.testcase import (FailedReply, InterruptTest, SkipTest, TestCase,  # noqa: F401
                                 TestJob, TestLoader, TestPipe, TestRunner, TestServer)

__all__ = ["TestCase", "TestJob", "TestPipe", "TestServer", "FailedReply", "InterruptTest",
           "SkipTest", "TestLoader", "TestRunner"]
