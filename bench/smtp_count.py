#!/usr/bin/python3
"""An SMTP sink for bench/account.sh: the tests' sink (tests/api/smtp_sink.py,
aiosmtpd behind a loopback listener), started on a free port. Prints its URL
on the first line, then rewrites COUNT_FILE with the number of messages
accepted every 100 ms, and stops by itself after LIFETIME seconds."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "api"))
from smtp_sink import Sink  # noqa: E402


def main():
    count_file, lifetime = sys.argv[1], float(sys.argv[2])
    sink = Sink()
    print(sink.url, flush=True)
    end = time.monotonic() + lifetime
    try:
        while time.monotonic() < end:
            tmp = count_file + ".tmp"
            with open(tmp, "w") as f:
                f.write(f"{len(sink.messages)}\n")
            os.replace(tmp, count_file)
            time.sleep(0.1)
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
