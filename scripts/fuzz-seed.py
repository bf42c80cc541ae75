#!/usr/bin/env python3
"""Seeds the fuzz corpora (fuzz/corpus/<target>/) from the repository's fixtures and test vectors.

Run from anywhere; it only adds files (named by their SHA-1, so running it again adds nothing).
`scripts/fuzz.sh` runs it when a target's corpus is empty; the corpora kept in the repository are
these seeds plus what libFuzzer found, minimised with `cargo fuzz cmin`.
"""
import hashlib
import json
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "attendance-adapters" / "tests" / "fixtures"
CORPUS = ROOT / "fuzz" / "corpus"
ADMS_SERIAL = "0316144680030"


def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def zk_frames():
    """(direction, frame bytes) of every captured ZKTeco TCP frame."""
    out = []
    for log in sorted((FIX / "zk" / "emulator_wire").glob("*.log")):
        for line in log.read_text().splitlines():
            m = re.match(r"^(C>S|S>C)\s+([0-9a-fA-F]+)\s*$", line.strip())
            if m:
                out.append((m.group(1), log.name, bytes.fromhex(m.group(2))))
    captures = json.loads((FIX / "zk" / "pyzk_test_captures.json").read_text())

    def walk(node, direction):
        if isinstance(node, dict):
            for k, v in node.items():
                d = "S>C" if k.startswith("device_to_client") else "C>S" if k.startswith("client") else direction
                if k == "hex" and isinstance(v, str):
                    try:
                        out.append((direction, "pyzk", bytes.fromhex(v)))
                    except ValueError:
                        pass
                else:
                    walk(v, d)
        elif isinstance(node, list):
            for v in node:
                walk(v, direction)

    walk(captures, "S>C")
    return out


def packet_of(frame):
    """(command, data) of a TCP frame, or None."""
    if len(frame) >= 16 and frame[:4] == b"\x50\x50\x82\x7d":
        command = struct.unpack_from("<H", frame, 8)[0]
        return command, frame[16:]
    if len(frame) >= 8:  # a bare (UDP) packet
        return struct.unpack_from("<H", frame, 0)[0], frame[8:]
    return None


def zk():
    frames = zk_frames()
    streams = {}
    for direction, source, frame in frames:
        add("zk_packet", frame)
        streams.setdefault((direction, source), bytearray()).extend(frame)
        p = packet_of(frame)
        if not p:
            continue
        command, data = p
        if command == 500:  # CMD_REG_EVENT: realtime event data
            add("zk_realtime", data)
        if command in (1501, 2000) and len(data) >= 4:  # DATA, or an inline dataset
            add("zk_records", data)
    for (direction, source), stream in streams.items():
        add("zk_packet", bytes(stream[:4096]))
    # Datasets of every record and user layout (docs/protocols/zkteco-binary.md §9, §10).
    t = ((2026 - 2000) * 12 * 31 + (1 - 1) * 31 + 4) * 86400 + 8 * 3600  # 2026-01-05 08:00
    rec8 = struct.pack("<HBIB", 1, 1, t, 0) + struct.pack("<HBIB", 2, 15, t + 60, 1)
    rec16 = struct.pack("<IIBBHI", 7, t, 1, 0, 0, 0) + struct.pack("<IIBBHI", 8, t + 5, 2, 1, 0, 43)
    rec40 = (struct.pack("<H", 1) + b"1001".ljust(24, b"\0") + struct.pack("<BIB", 1, t, 0)
             + b"\0\0\0\0\xff\0\0\0")
    user28 = struct.pack("<HB5s8sIBBhI", 1, 0, b"123", b"Ana", 0, 0, 1, 0, 1001)
    user72 = (struct.pack("<HB8s24sI", 1, 14, b"pw", b"Rahima Khatun", 12345) + b"\0" * 9
              + b"1001".ljust(24, b"\0"))
    for body in (rec8, rec16, rec40 * 2, user28 * 3, user72, b""):
        add("zk_records", struct.pack("<I", len(body)) + body)
    for data in (b"1001".ljust(24, b"\0") + bytes([1, 0, 26, 1, 5, 8, 0, 0]),
                 struct.pack("<I", 7) + bytes([15, 1, 26, 1, 5, 8, 0, 0])):
        add("zk_realtime", data)
        add("zk_realtime", data.ljust(36, b"\0"))
        add("zk_realtime", data.ljust(52, b"\0"))


def http_requests(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.http"))}


def adms():
    for name, raw in http_requests(FIX / "adms").items():
        if raw.startswith(b"HTTP/"):
            add("adms_body", raw.split(b"\r\n\r\n", 1)[-1])
            continue
        add("adms_server", raw)
        body = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)
        if len(body) == 2 and body[1]:
            add("adms_body", body[1])
    for p in sorted((FIX / "adms").glob("*.txt")):
        body = p.read_bytes()
        add("adms_body", body)
        table = "OPERLOG" if "operlog" in p.name else "BIODATA" if "biodata" in p.name else "ATTLOG"
        if p.name.startswith("3"):
            add("adms_server", f"POST /iclock/devicecmd?SN={ADMS_SERIAL} HTTP/1.1\r\n\r\n".encode() + body)
            continue
        add("adms_server",
            f"POST /iclock/cdata?SN={ADMS_SERIAL}&table={table}&Stamp=9999 HTTP/1.1\r\n"
            f"Content-Type: text/plain\r\n\r\n".encode() + body)
    add("adms_server", f"GET /iclock/getrequest?SN={ADMS_SERIAL}&INFO=Ver%208.0.4.7-20210517,12,3,1024,192.168.1.201,10,7,12,8,111 HTTP/1.1\r\n\r\n")
    add("adms_server", f"GET /iclock/cdata.aspx?SN={ADMS_SERIAL}&options=all&pushver=2.4.1 HTTP/1.1\r\n\r\n")
    add("adms_server", f"GET /iclock/ping?SN={ADMS_SERIAL} HTTP/1.1\r\n\r\n")
    add("adms_server", "GET /iclock/cdata?options=all HTTP/1.1\r\n\r\n")
    add("adms_body", "OK: 12")


def hikvision():
    for p in sorted((FIX / "hikvision").glob("*.json")):
        add("hik_json", p.read_bytes())
    for name, raw in http_requests(FIX / "hikvision").items():
        add("hik_push", raw)
        for line in raw.decode("latin-1").splitlines():
            if line.lower().startswith("www-authenticate:"):
                add("hik_json", line.split(":", 1)[1].strip())
    event = json.dumps({
        "dateTime": "2026-01-05T08:00:00+05:30", "eventType": "AccessControllerEvent",
        "AccessControllerEvent": {"majorEventType": 5, "subEventType": 75,
                                  "employeeNoString": "1001", "serialNo": 42,
                                  "attendanceStatus": "checkIn"}})
    add("hik_push", "POST /hikvision/events/FUZZ1 HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" + event)
    add("hik_json", "2026-01-05T08:00:00")


def biostar():
    for p in sorted((FIX / "biostar").glob("*.json")):
        add("biostar_json", p.read_bytes())
    add("biostar_json", "2026-01-05T02:30:00.000Z|1,2")


def generic_line():
    # Structured input (arbitrary): a few byte strings to start from.
    add("generic_line", b",\x02\x00\x01%Y-%m-%d %H:%M:%S\x001001,2026-01-05 08:00:00\x00\x03\x01\x07")
    add("generic_line", b";\x03\x00\x01\x02unix\x001001;1767600000;0\x00\x01\x00\x09")


def server():
    add("scan_import",
        "employee_id,device_user_id,timestamp,scan_type,machine_id\n"
        "E001,,2025-06-11 08:00,IN,\n"
        "E001,1,2025-06-11T17:30:00+06:00,OUT,ZK1\n"
        ",7,2025-06-11 09:00,,\n")
    add("scan_import",
        "employee_id,device_user_id,timestamp,scan_type,machine_id\n"
        "EMP700,,2025-06-11 08:00,IN,\n"
        "EMP404,,2025-06-11 08:00,IN,\n"
        "EMP700,,not a time,,\n"
        ",,2025-06-11 09:00,,\n"
        "EMP700,9999,2025-06-11 17:30,OUT,\n"
        "EMP700,,2025-06-11 17:30,SIDEWAYS,\n"
        "EMP700,,2999-06-11 17:30,OUT,\n")
    add("scan_import", "device_user_id,timestamp\n1,2026-01-05 08:00:00\n")
    add("employee_import",
        "employee_id,employee_name,department,designation,level_of_work,device_user_id,shift,active,joined_on\n"
        "EMP100,Rahima Khatun,Finishing,Senior Tailor,Worker,,,,\n"
        "EMP101,Karim Uddin,Finishing,Helper,Worker,9101,,true,2020-01-01\n"
        "EMP102,Salma Begum,Cutting,Cutter,Staff,,,false,\n")
    add("employee_import", "employee_id,employee_name,department,designation\nEMP1,A,B,C\n")
    add("employee_import", json.dumps([
        {"employee_id": "EMP200", "employee_name": "Ana", "department": "Cutting",
         "designation": "Cutter", "level_of_work": "Worker", "device_user_id": 200,
         "active": "yes", "joined_on": "2021-02-03", "shift": "DAY"},
        {"employee_id": 201, "employee_name": "B", "department": "C", "designation": "D",
         "level_of_work": "Staff"}]))
    add("config_toml", (ROOT / "examples" / "server" / "attendance.example.toml").read_bytes())
    add("config_toml", 'bind = "127.0.0.1:0"\nws_port = 8001\ncors_origins = ["http://localhost:3000"]\n'
                       'jwt_secret = "0123456789abcdef0123456789abcdef"\n')
    add("config_toml", 'database_url = "postgres://u:p@h/db"\nadmin_user = "admin"\nunknown = 1\n')


if __name__ == "__main__":
    zk()
    adms()
    hikvision()
    biostar()
    generic_line()
    server()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")
