"""Times pyzk downloading every attendance record from a ZKTeco device, `iters` times.

Usage: pyzk_download.py PORT ITERS. Prints the total seconds spent in connect + get_attendance +
disconnect (interpreter start-up is not counted) and the record count of the last download.
"""
import sys
import time

from zk import ZK


def main():
    port, iters = int(sys.argv[1]), int(sys.argv[2])
    total = 0.0
    count = 0
    for _ in range(iters):
        start = time.perf_counter()
        conn = ZK("127.0.0.1", port=port, timeout=30, ommit_ping=True).connect()
        count = len(conn.get_attendance())
        conn.disconnect()
        total += time.perf_counter() - start
    print(f"{total} {count}", flush=True)


if __name__ == "__main__":
    main()
