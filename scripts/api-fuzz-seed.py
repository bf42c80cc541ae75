#!/usr/bin/env python3
"""Seeds a fresh `attendance-server serve` for scripts/api-fuzz.sh, through its own REST API.

Usage: api-fuzz-seed.py BASE_URL ADMIN_USER ADMIN_PASSWORD OUT_DIR

Logs in as the super admin, creates two departments of employees, an HR login and an employee
login (and a department head's), a machine, a leave policy, holidays, manual scans, a leave
request with a correction, and writes one bearer token per role to OUT_DIR/<role>.token, so
every operation schemathesis calls has something real to act on (and OUT_DIR/<role>.user,
the login's name). Standard library only; exits
non-zero with the failing call when the server refuses a step.
"""

import json
import sys
import urllib.error
import urllib.request

PASSWORD = "fuzz-password-1"


def call(base, method, path, token=None, body=None, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if status not in expect:
        sys.exit(f"seed: {method} {path} answered {status}: {text[:500]}")
    return json.loads(text) if text else None


def login(base, username, password):
    body = call(base, "POST", "/api/auth/login", body={"username": username, "password": password})
    return body["access_token"]


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    base, admin_user, admin_password, out = sys.argv[1:]
    admin = login(base, admin_user, admin_password)

    employees = [
        ("EMP001", "Rahima Khatun", "Sewing", "Senior Tailor", "Worker", "1"),
        ("EMP002", "Karim Uddin", "Sewing", "Line Chief", "Staff", "2"),
        ("EMP003", "Nasrin Akter", "Sewing", "Tailor", "Worker", "3"),
        ("EMP004", "Jamal Hossain", "Finishing", "Ironman", "Worker", "4"),
        ("EMP005", "Shirin Begum", "Finishing", "Supervisor", "Staff", "5"),
    ]
    for code, name, department, designation, level, device_user in employees:
        call(base, "POST", "/api/attendance/employees/", admin, {
            "employee_id": code, "employee_name": name, "department": department,
            "designation": designation, "level_of_work": level, "device_user_id": device_user,
            "joined_on": "2025-01-01",
        })

    accounts = [
        ("hr", "hr_staff", None),
        ("worker", "employee", "EMP001"),
        ("head", "department_head", "EMP002"),
    ]
    for username, role, employee in accounts:
        call(base, "POST", "/api/auth/users/", admin, {
            "username": username, "password": PASSWORD, "role": role, "employee_id": employee,
        })

    call(base, "POST", "/api/attendance/machines/", admin, {
        "machine_id": "SIM-1", "name": "Sewing floor", "machine_type": "simulated",
        "location": "Floor 2", "department": "Sewing",
        "config": {"scans_per_minute": 1.0, "history_hours": 0, "employees": 3},
    })
    call(base, "POST", "/api/attendance/leave-policies/", admin, {
        "leave_type": "Study", "max_per_year": 5, "half_days_allowed": True,
        "requires_approval": True,
    })
    for name, start in [("Victory Day", "2026-12-16"), ("Factory Day", "2026-11-05")]:
        call(base, "POST", "/api/attendance/holidays/", admin, {"name": name, "start": start})

    hr = login(base, "hr", PASSWORD)
    for code in ("EMP001", "EMP002", "EMP004"):
        for time, kind in (("2026-12-01T02:00:00Z", "IN"), ("2026-12-01T11:30:00Z", "OUT")):
            call(base, "POST", "/api/attendance/scans/", hr, {
                "employee_id": code, "scan_time": time, "scan_type": kind, "reason": "seed",
            })
    call(base, "POST", "/api/attendance/leave-balances/allocate/", hr, {
        "employee_id": "EMP001", "leave_type": "Casual", "year": 2026, "days": 5,
    })

    worker = login(base, "worker", PASSWORD)
    call(base, "POST", "/api/attendance/leave-requests/", worker, {
        "leave_type": "Casual", "start_date": "2026-12-20", "end_date": "2026-12-21",
        "reason": "family",
    })
    call(base, "POST", "/api/attendance/corrections/", worker, {
        "employee_id": "EMP001", "scan_time": "2026-12-02T02:05:00Z", "scan_type": "IN",
        "reason": "the machine missed me",
    })

    logins = {
        "super_admin": (admin_user, admin),
        "hr_staff": ("hr", hr),
        "employee": ("worker", worker),
    }
    for role, (username, token) in logins.items():
        with open(f"{out}/{role}.token", "w", encoding="utf-8") as f:
            f.write(token)
        with open(f"{out}/{role}.user", "w", encoding="utf-8") as f:
            f.write(username)
    print(f"seed: 5 employees in 2 departments, logins hr/worker/head, 1 machine, "
          f"1 leave policy, 2 holidays, 6 scans, 1 leave request, 1 correction")


if __name__ == "__main__":
    main()
