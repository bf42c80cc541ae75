//! Holiday changes: who may make them and which dates they recompute.

use super::*;

#[test]
fn an_employee_may_not_change_holidays_and_nothing_is_touched() {
    let m = Mocks::default();
    let me = Actor::new(
        Role::Employee,
        EmployeeCode::parse("EMP001").ok(),
        Department::parse("Sewing").ok(),
    );
    let holiday = Holiday::single("Victory Day", d(16)).unwrap();
    let err = block_on(m.service().create_holiday(&me, "worker", &holiday, now())).unwrap_err();
    assert!(matches!(err, ServiceError::Denied(_)), "{err}");
}

#[test]
fn moving_a_holiday_recomputes_its_old_and_new_dates_for_active_employees() {
    let new = Holiday::single("Founders Day", d(23)).unwrap();
    let old = Holiday::single("Founders Day", d(19)).unwrap();
    let mut m = Mocks::default().with_site(vec![StoredHoliday {
        id: 7,
        holiday: new.clone(),
    }]);
    let was = old.clone();
    m.holidays
        .expect_update_holiday()
        .with(eq(7), eq(new.clone()))
        .times(1)
        .returning(move |_, _| Ok(was.clone()));
    m.employees.expect_list_employees().returning(|_| {
        Ok(vec![
            employee("EMP001", "1", true),
            employee("EMP002", "2", false),
        ])
    });
    m.leave
        .expect_leave_requests_of()
        .withf(|codes| codes == [code("EMP001")])
        .times(1)
        .returning(|_| Ok(Vec::new()));
    // The 19th and the 23rd lie four days apart: one scan read each, not one over the days
    // between.
    m.scans
        .expect_scans_of_users()
        .withf(|users, from, to| {
            users == [user("1")] && *to - *from <= chrono::TimeDelta::hours(25)
        })
        .times(2)
        .returning(|_, _, _| Ok(Vec::new()));
    m.records
        .expect_upsert_records()
        .times(1)
        .withf(|records| {
            let got: Vec<(NaiveDate, &AttendanceStatus)> =
                records.iter().map(|r| (r.date, &r.status)).collect();
            got == [
                (d(19), &AttendanceStatus::Absent),
                (d(23), &AttendanceStatus::Holiday),
            ]
        })
        .returning(|_| Ok(()));
    let change = block_on(m.service().update_holiday(&hr(), "hr", 7, &new, now())).unwrap();
    assert_eq!(change.recomputed, 2);
    assert_eq!(change.holiday.map(|h| h.id), Some(7));
}
