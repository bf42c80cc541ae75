"""Reads every access-control event from our fake Hikvision terminal with the third-party
`hikvisionapi` package (PyPI, 0.3.2), paging by what the terminal really returned.

Usage: check_hik_fake.py <port> <user> <password> <maxResults>
Prints one JSON line: {"pages": n, "max_results": [...], "events": [[serialNo, employeeNoString,
minor, time], ...]} or {"refused": "<error>"} when the terminal refuses the credentials.
"""
import json
import sys

from hikvisionapi import Client


def main():
    port, user, password, max_results = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        # The constructor calls GET /ISAPI/System/status (Basic, then Digest after the 401).
        api = Client(f"http://127.0.0.1:{port}", user, password, timeout=10)
    except Exception as e:  # requests.HTTPError on a refused login
        print(json.dumps({"refused": f"{type(e).__name__}: {e}"}))
        return
    position, pages, events = 0, 0, []
    while True:
        body = {"AcsEventCond": {
            "searchID": "hikvisionapi-check",
            "searchResultPosition": position,
            "maxResults": max_results,
            "major": 5,
            "minor": 0,
        }}
        # present='text': the default 'dict' parses XML and fails on JSON.
        text = api.AccessControl.AcsEvent(method='post', params={'format': 'json'}, json=body,
                                          present='text')
        page = json.loads(text)["AcsEvent"]
        pages += 1
        for e in page.get("InfoList", []):
            events.append([e["serialNo"], e.get("employeeNoString"), e["minor"], e["time"]])
        position += page["numOfMatches"]
        if page["responseStatusStrg"] != "MORE":
            break
    print(json.dumps({"pages": pages, "status": page["responseStatusStrg"], "events": events}))


if __name__ == "__main__":
    main()
