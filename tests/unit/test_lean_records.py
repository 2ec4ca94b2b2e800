"""logs.lean_records: a serving process's log records skip what no format of ours shows
(its process, thread and calling line), and still carry the message and its time. Run in a
child process: the switches are the logging module's, for the whole process."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, logging
from torbit.logs import lean_records
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
log = logging.getLogger("torbit.test")
log.addHandler(Keep())
log.setLevel(logging.INFO)
log.info("before %s", 1)
lean_records()
log.info("after %s", 2)
print(json.dumps([
    [r.getMessage(), r.process, r.threadName, r.funcName, r.lineno, r.created > 0]
    for r in records
]))
"""


def test_records_skip_the_process_thread_and_caller_once_lean() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True
    ).stdout
    before, after = json.loads(out)
    assert before[0] == "before 1" and before[1] is not None and before[4] > 0
    assert after[0] == "after 2" and after[5]
    assert after[1] is None and after[2] is None  # no getpid(), no thread lookup
    assert after[3] != "<module>" and after[4] == 0  # no walk up the stack
