"""Drives our ZKTeco fake device with the third-party pyzk client (run by tests/pyzk.rs).

Prints one JSON object per line on stdout: the download summary, then one line per live event,
then "done". Exits non-zero on any pyzk error, except where an error is the expected outcome.
"""
import json
import sys

from zk import ZK
from zk.exception import ZKErrorResponse


def main():
    port, key, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    zk = ZK("127.0.0.1", port=port, timeout=10, password=key, force_udp=False, ommit_ping=True)
    if mode == "wrong-key":
        try:
            zk.connect()
        except ZKErrorResponse as e:
            print(json.dumps({"refused": str(e)}), flush=True)
            return
        print(json.dumps({"refused": None}), flush=True)
        return
    conn = zk.connect()
    users = conn.get_users()
    records = conn.get_attendance()
    fmt = lambda a: {"user_id": a.user_id, "time": a.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                     "punch": a.punch, "verify": a.status}
    print(json.dumps({
        "serial": conn.get_serialnumber(),
        "users": len(users),
        "first_user": users[0].user_id if users else None,
        "records": len(records),
        "first": fmt(records[0]) if records else None,
        "last": fmt(records[-1]) if records else None,
    }), flush=True)
    want = int(sys.argv[4])
    got = 0
    idle = 0
    for event in conn.live_capture(new_timeout=1):
        if event is None:
            idle += 1
            if idle > 20:
                break
            continue
        print(json.dumps({"live": fmt(event)}), flush=True)
        got += 1
        if got >= want:
            conn.end_live_capture = True
    conn.disconnect()
    print("done", flush=True)


if __name__ == "__main__":
    main()
