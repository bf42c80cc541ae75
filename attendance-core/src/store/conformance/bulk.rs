//! The bulk reads of the set-based recompute: exactly the keys asked, in the stated order.

use super::fixtures::{add_employees, at, batch, date, id, leave_request, scan};
use super::{CheckResult, fail};
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::leave::{LeaveRequest, RequestStatus};
use crate::store::{LeaveChange, Store};

/// The bulk reads the set-based recompute uses: `scans_of_users`, `employees_by_device_users`,
/// `employees_by_codes` and `leave_requests_of`, over more keys than one statement carries
/// (1,200, most unknown), each giving exactly what the single reads give, in the stated order.
pub(super) async fn bulk_reads_return_exactly_the_keys_asked_in_order<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    // Device users 1, 777 and 1100 (the codes' digits); user 2 scans but is no employee.
    add_employees(
        store,
        &[
            ("EMP00001", "Sewing"),
            ("EMP00777", "Sewing"),
            ("EMP01100", "Sewing"),
        ],
    )
    .await?;
    store
        .record_scans(batch(
            "M1",
            vec![
                scan("M1", "777", 5)?,
                scan("M1", "1", 30)?,
                scan("M1", "2", 10)?,
                scan("M1", "1100", 0)?,
                scan("M1", "1", -1)?,
                scan("M1", "1", 90)?,
            ],
            None,
        )?)
        .await
        .map_err(fail)?;
    store
        .record_scans(batch(
            "M2",
            vec![scan("M2", "1", 30)?, scan("M2", "1100", 89)?],
            None,
        )?)
        .await
        .map_err(fail)?;
    let mut users: Vec<DeviceUserId> = (1..=1_200)
        .rev()
        .map(|n| id(DeviceUserId::parse(&n.to_string())))
        .collect::<Result<_, _>>()?;
    users.push(id(DeviceUserId::parse("1"))?);
    let got = store
        .scans_of_users(&users, at(0), at(90))
        .await
        .map_err(fail)?;
    let keys: Vec<(&str, i64, &str)> = got
        .iter()
        .map(|s| {
            (
                s.device_user_id.as_str(),
                (s.timestamp - at(0)).num_minutes(),
                s.machine_id.as_str(),
            )
        })
        .collect();
    let want = [
        ("1", 30, "M1"),
        ("1", 30, "M2"),
        ("1100", 0, "M1"),
        ("1100", 89, "M2"),
        ("2", 10, "M1"),
        ("777", 5, "M1"),
    ];
    ensure!(
        keys == want,
        "scans of users in [from, to) by user (bytewise), time, machine: want {want:?}, got {keys:?}"
    );
    ensure!(
        got[0].raw.as_deref() == Some("1\t30"),
        "raw payload kept: {:?}",
        got[0].raw
    );
    let none = store
        .scans_of_users(&[], at(0), at(90))
        .await
        .map_err(fail)?;
    ensure!(none.is_empty(), "no users, no scans: {none:?}");

    let codes_of = |employees: &[Employee]| -> Vec<String> {
        employees
            .iter()
            .map(|e| e.employee_id.as_str().to_owned())
            .collect()
    };
    let enrolled = store
        .employees_by_device_users(&users)
        .await
        .map_err(fail)?;
    ensure!(
        codes_of(&enrolled) == ["EMP00001", "EMP00777", "EMP01100"],
        "employees of 1,200 device users, by code: {:?}",
        codes_of(&enrolled)
    );
    ensure!(
        enrolled[1]
            == store
                .employee(&enrolled[1].employee_id)
                .await
                .map_err(fail)?,
        "a bulk-read employee is the stored one"
    );
    let mut codes: Vec<EmployeeCode> = (1..=1_200)
        .rev()
        .map(|n| id(EmployeeCode::parse(&format!("EMP{n:05}"))))
        .collect::<Result<_, _>>()?;
    codes.push(id(EmployeeCode::parse("EMP00777"))?);
    let by_code = store.employees_by_codes(&codes).await.map_err(fail)?;
    ensure!(
        codes_of(&by_code) == ["EMP00001", "EMP00777", "EMP01100"],
        "employees of 1,200 codes, by code: {:?}",
        codes_of(&by_code)
    );
    ensure!(
        store
            .employees_by_codes(&[])
            .await
            .map_err(fail)?
            .is_empty()
            && store
                .employees_by_device_users(&[])
                .await
                .map_err(fail)?
                .is_empty(),
        "no keys, no employees"
    );

    // EMP00001: an approved and a pending request (ids out of order); EMP00777: one.
    let commit = |code: &str, requests: Vec<LeaveRequest>| {
        let employee = EmployeeCode::parse(code);
        async move {
            let employee = id(employee)?;
            let account = store.leave_account(&employee).await.map_err(fail)?;
            store
                .commit_leave(LeaveChange {
                    employee,
                    expected_version: account.version,
                    requests,
                    entries: Vec::new(),
                })
                .await
                .map_err(fail)
        }
    };
    commit(
        "EMP00001",
        vec![
            leave_request("L-2", "EMP00001", "Sewing", date(3, 2), date(3, 3), true)?,
            leave_request("L-1", "EMP00001", "Sewing", date(3, 9), date(3, 9), false)?,
        ],
    )
    .await?;
    commit(
        "EMP00777",
        vec![leave_request(
            "L-0",
            "EMP00777",
            "Sewing",
            date(3, 4),
            date(3, 4),
            true,
        )?],
    )
    .await?;
    let requests = store.leave_requests_of(&codes).await.map_err(fail)?;
    let got: Vec<(&str, &str, RequestStatus)> = requests
        .iter()
        .map(|r| (r.employee.as_str(), r.id.as_str(), r.status))
        .collect();
    let want = [
        ("EMP00001", "L-1", RequestStatus::Pending),
        ("EMP00001", "L-2", RequestStatus::Approved),
        ("EMP00777", "L-0", RequestStatus::Approved),
    ];
    ensure!(
        got == want,
        "requests of 1,200 employees by employee then id: want {want:?}, got {got:?}"
    );
    let account = store
        .leave_account(&id(EmployeeCode::parse("EMP00001"))?)
        .await
        .map_err(fail)?;
    ensure!(
        requests[..2] == account.requests[..],
        "the bulk-read requests are the account's"
    );
    ensure!(
        store.leave_requests_of(&[]).await.map_err(fail)?.is_empty(),
        "no employees, no requests"
    );
    Ok(())
}
