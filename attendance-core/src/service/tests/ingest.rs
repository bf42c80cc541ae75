//! Storing scans: what a batch, a group and the affected days read, write and report.

use super::*;

#[test]
fn new_scans_recompute_only_their_work_dates_and_unknown_users_are_reported() {
    let mut m = Mocks::default().with_site(Vec::new());
    let scans = vec![
        scan("1", local(23, 7, 55)),
        scan("1", local(23, 17, 10)),
        scan("99", local(23, 9, 0)),
    ];
    let inserted = scans.clone();
    m.scans.expect_record_scans().times(1).returning(move |_| {
        Ok(IngestOutcome {
            inserted: inserted.clone(),
            duplicates: 1,
        })
    });
    // One bulk read of the employees of every device user of the batch.
    m.employees
        .expect_employees_by_device_users()
        .times(1)
        .withf(|users| users == [user("1"), user("99")])
        .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
    m.leave
        .expect_leave_requests_of()
        .times(1)
        .withf(|codes| codes == [code("EMP001")])
        .returning(|_| Ok(Vec::new()));
    let of_user = scans[..2].to_vec();
    m.scans
        .expect_scans_of_users()
        .times(1)
        .withf(|users, from, to| {
            // The window of the 23rd only: it opens before 07:55 and closes before the 24th's shift.
            users == [user("1")]
                && *from <= local(23, 7, 55)
                && *from > local(22, 17, 0)
                && *to > local(23, 17, 10)
                && *to <= local(24, 8, 0)
        })
        .returning(move |_, _, _| Ok(of_user.clone()));
    m.records
        .expect_upsert_records()
        .times(1)
        .withf(|records| {
            records.len() == 1
                && records[0].date == d(23)
                && records[0].status == AttendanceStatus::PresentOnTime
        })
        .returning(|_| Ok(()));
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans: scans.clone(),
        cursor: None,
    };
    let report = block_on(m.service().record_scans(batch, now())).unwrap();
    assert_eq!(report.inserted, scans);
    assert_eq!(report.duplicates, 1);
    assert_eq!(
        report.unknown_users,
        BTreeSet::from([DeviceUserId::parse("99").unwrap()])
    );
    assert_eq!(report.records.len(), 1);
    assert_eq!(report.records[0].employee_id.as_str(), "EMP001");
}

#[test]
fn each_employee_of_a_batch_is_scored_on_their_own_shift() {
    let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
    let day = [local(23, 7, 55), local(23, 17, 10)];
    let night = [local(23, 19, 55), local(24, 5, 3)];
    let ghost = [local(23, 8, 5), local(23, 17, 0)];
    let scans: Vec<ScanData> = (day.iter().map(|&t| scan("1", t)))
        .chain(night.iter().map(|&t| scan("2", t)))
        .chain(ghost.iter().map(|&t| scan("3", t)))
        .collect();
    let inserted = scans.clone();
    m.scans.expect_record_scans().times(1).returning(move |_| {
        Ok(IngestOutcome {
            inserted: inserted.clone(),
            duplicates: 0,
        })
    });
    let staff = [
        employee("EMP001", "1", true),
        on_shift(employee("EMP002", "2", true), "NIGHT"),
        on_shift(employee("EMP003", "3", true), "GHOST"),
    ];
    let enrolled = staff.to_vec();
    m.employees
        .expect_employees_by_device_users()
        .times(1)
        .returning(move |_| Ok(enrolled.clone()));
    m.leave
        .expect_leave_requests_of()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    // One read for the three: from the earliest opening of the 23rd's windows (the day
    // shift's, after the 22nd's 17:00 end) to the latest closing (the night of the 23rd,
    // which holds the 05:03 check-out and ends before the 24th's 20:00 start).
    let all = scans.clone();
    m.scans
        .expect_scans_of_users()
        .times(1)
        .withf(|users, from, to| {
            users == [user("1"), user("2"), user("3")]
                && *from > local(22, 17, 0)
                && *from <= local(23, 7, 55)
                && *to > local(24, 5, 3)
                && *to <= local(24, 20, 0)
        })
        .returning(move |_, _, _| Ok(all.clone()));
    m.records
        .expect_upsert_records()
        .times(1)
        .withf(|records| records.len() == 3 && records.iter().all(|r| r.date == d(23)))
        .returning(|_| Ok(()));
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans,
        cursor: None,
    };
    let report = block_on(m.service().record_scans(batch, now())).unwrap();
    let got: Vec<(&str, NaiveDate, &str, &AttendanceStatus, i64)> = report
        .records
        .iter()
        .map(|r| {
            (
                r.employee_id.as_str(),
                r.date,
                r.shift.as_str(),
                &r.status,
                r.late_minutes,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("EMP001", d(23), "DAY", &AttendanceStatus::PresentOnTime, 0),
            (
                "EMP002",
                d(23),
                "NIGHT",
                &AttendanceStatus::PresentOnTime,
                0
            ),
            (
                "EMP003",
                d(23),
                "DAY",
                &AttendanceStatus::PresentConsidered,
                5
            ),
        ]
    );
    let night_record = &report.records[1];
    assert_eq!(night_record.check_in, Some(night[0]));
    assert_eq!(night_record.check_out, Some(night[1]));
    assert_eq!(
        report.unknown_shifts,
        BTreeMap::from([(
            EmployeeCode::parse("EMP003").unwrap(),
            ShiftId::parse("GHOST").unwrap()
        )])
    );
}

#[test]
fn a_batch_of_duplicates_recomputes_nothing() {
    // No other expectations: any read or write beyond the ingest fails the test.
    let mut m = Mocks::default();
    m.scans.expect_record_scans().times(1).returning(|_| {
        Ok(IngestOutcome {
            inserted: Vec::new(),
            duplicates: 3,
        })
    });
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans: Vec::new(),
        cursor: None,
    };
    let report = block_on(m.service().record_scans(batch, now())).unwrap();
    assert_eq!(report.duplicates, 3);
    assert!(report.records.is_empty());
}

#[test]
fn a_failing_ingest_is_a_typed_error_and_writes_no_records() {
    let mut m = Mocks::default();
    m.scans.expect_record_scans().returning(|_| {
        Err(StoreError::Backend {
            message: "disk full".into(),
            source: None,
        })
    });
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans: vec![scan("1", local(23, 8, 0))],
        cursor: None,
    };
    let err = block_on(m.service().record_scans(batch, now())).unwrap_err();
    assert!(
        matches!(err, ServiceError::Store(StoreError::Backend { .. })),
        "{err}"
    );
}

#[test]
fn a_group_of_batches_recomputes_each_employee_day_once() {
    let mut m = Mocks::default().with_site(Vec::new());
    let gate = |n: &str, scans: Vec<ScanData>| ScanBatch {
        machine_id: MachineId::parse(n).unwrap(),
        scans,
        cursor: None,
    };
    let mut at_canteen = scan("1", local(23, 17, 10));
    at_canteen.machine_id = MachineId::parse("GATE-2").unwrap();
    let group = vec![
        gate("GATE-1", vec![scan("1", local(23, 7, 55))]),
        gate("GATE-2", vec![at_canteen.clone()]),
    ];
    let (first, second) = (group[0].scans.clone(), group[1].scans.clone());
    m.scans
        .expect_record_scan_batches()
        .times(1)
        .withf(|batches| batches.len() == 2)
        .returning(move |_| {
            Ok(vec![
                IngestOutcome {
                    inserted: first.clone(),
                    duplicates: 2,
                },
                IngestOutcome {
                    inserted: second.clone(),
                    duplicates: 1,
                },
            ])
        });
    m.employees
        .expect_employees_by_device_users()
        .times(1)
        .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
    // Both batches' scans fall on the 23rd: one read, one recompute, one write.
    m.leave
        .expect_leave_requests_of()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    let both = vec![scan("1", local(23, 7, 55)), at_canteen.clone()];
    m.scans
        .expect_scans_of_users()
        .times(1)
        .returning(move |_, _, _| Ok(both.clone()));
    m.records
        .expect_upsert_records()
        .times(1)
        .withf(|records| records.len() == 1 && records[0].date == d(23))
        .returning(|_| Ok(()));
    let report = block_on(m.service().record_scan_batches(group, now())).unwrap();
    assert_eq!(
        report.inserted,
        vec![scan("1", local(23, 7, 55)), at_canteen]
    );
    assert_eq!(report.duplicates, 3);
    assert_eq!(report.records.len(), 1);
    assert_eq!(report.summaries.len(), 1);
}

#[test]
fn the_observer_hears_of_new_scans_then_of_their_records() {
    let mut m = Mocks::default().with_site(Vec::new());
    let scans = vec![
        scan("1", local(23, 7, 55)),
        scan("99", local(23, 9, 0)),
        scan("1", local(23, 17, 10)),
    ];
    let inserted = scans.clone();
    let mut seq = Sequence::new();
    m.scans
        .expect_record_scans()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| {
            Ok(IngestOutcome {
                inserted: inserted.clone(),
                duplicates: 0,
            })
        });
    m.scans
        .expect_record_scans()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Ok(IngestOutcome {
                inserted: Vec::new(),
                duplicates: 3,
            })
        });
    m.employees
        .expect_employees_by_device_users()
        .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
    m.leave
        .expect_leave_requests_of()
        .returning(|_| Ok(Vec::new()));
    let of_user = vec![scans[0].clone(), scans[2].clone()];
    m.scans
        .expect_scans_of_users()
        .returning(move |_, _, _| Ok(of_user.clone()));
    m.records.expect_upsert_records().returning(|_| Ok(()));
    let recorder = Arc::new(Recorder::default());
    let service = m.service().with_observer(recorder.clone());
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans: scans.clone(),
        cursor: None,
    };
    let report = block_on(service.record_scans(batch.clone(), now())).unwrap();
    assert_eq!(report.records.len(), 1);
    // A resend stores nothing new: nothing is told.
    block_on(service.record_scans(batch, now())).unwrap();
    assert_eq!(
        recorder.events(),
        [
            r#"3 scans of ["EMP001"]"#,
            "EMP001 2026-11-23 Present-OnTime"
        ]
    );
}

#[test]
fn storing_a_group_without_recomputing_reads_nothing_and_tells_no_one() {
    // No other expectations: any read or write beyond the ingest fails the test.
    let mut m = Mocks::default();
    let new = vec![scan("1", local(23, 7, 55))];
    let inserted = new.clone();
    m.scans
        .expect_record_scan_batches()
        .times(1)
        .returning(move |batches| {
            Ok(batches
                .iter()
                .map(|_| IngestOutcome {
                    inserted: inserted.clone(),
                    duplicates: 1,
                })
                .collect())
        });
    let recorder = Arc::new(Recorder::default());
    let service = m.service().with_observer(recorder.clone());
    let batch = ScanBatch {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        scans: new.clone(),
        cursor: None,
    };
    let outcomes = block_on(service.store_scan_batches(vec![batch.clone(), batch])).unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[1].inserted, new);
    assert!(recorder.events().is_empty());
}

/// A day worker, a night worker and one on a shift the site does not have (device users 1–3).
fn day_night_and_ghost() -> Vec<Employee> {
    vec![
        employee("EMP001", "1", true),
        on_shift(employee("EMP002", "2", true), "NIGHT"),
        on_shift(employee("EMP003", "3", true), "GHOST"),
    ]
}

/// Scans of [`day_night_and_ghost`]'s device users and of the unknown user 7 around the night
/// of the 22nd.
fn around_the_night_of_the_22nd() -> Vec<ScanData> {
    vec![
        scan("2", local(23, 2, 0)),
        scan("1", local(23, 3, 30)),
        scan("3", local(23, 3, 30)),
        scan("2", local(23, 21, 0)),
        scan("7", local(23, 9, 0)),
    ]
}

#[test]
fn affected_days_are_found_with_one_bulk_employee_read_each_on_their_shift() {
    let mut m = Mocks::default();
    let settings = with_night_shift();
    m.settings
        .expect_settings()
        .times(1)
        .returning(move || Ok(settings.clone()));
    m.employees
        .expect_employees_by_device_users()
        .times(1)
        .returning(|_| Ok(day_night_and_ghost()));
    let service = m.service();
    // The night worker's 02:00 scan belongs to the night of the 22nd; the day workers' to
    // the 23rd (their window of the 23rd opens at 03:00), and the unknown shift is the day
    // shift.
    let scans = around_the_night_of_the_22nd();
    let affected = block_on(service.affected_days(&scans)).unwrap();
    assert_eq!(
        affected.days,
        DayKeys::from([
            (code("EMP001"), BTreeSet::from([d(23)])),
            (code("EMP002"), BTreeSet::from([d(22), d(23)])),
            (code("EMP003"), BTreeSet::from([d(23)])),
        ])
    );
    assert_eq!(affected.unknown_users, BTreeSet::from([user("7")]));
    assert_eq!(
        affected.unknown_shifts,
        BTreeMap::from([(code("EMP003"), ShiftId::parse("GHOST").unwrap())])
    );
    assert_eq!(
        affected.employees.keys().collect::<Vec<_>>(),
        [&user("1"), &user("2"), &user("3")]
    );
    // No scans, no reads.
    assert_eq!(
        block_on(service.affected_days(&[])).unwrap(),
        AffectedDays::default()
    );
}

#[test]
fn pending_scans_are_published_with_one_employee_read_and_dated_on_the_settings_given() {
    let mut m = Mocks::default();
    // No settings read: the days are found later, on the settings the recompute reads.
    m.employees
        .expect_employees_by_device_users()
        .times(1)
        .withf(|users| users == [user("1"), user("2"), user("3"), user("7")])
        .returning(|_| Ok(day_night_and_ghost()));
    let service = m.service();
    let scans = around_the_night_of_the_22nd();
    let enrolled = block_on(service.enrolled(&scans)).unwrap();
    assert_eq!(
        enrolled.keys().collect::<Vec<_>>(),
        [&user("1"), &user("2"), &user("3")]
    );
    // Gathered over two flushes, dated as `affected_days` dates them in one.
    let mut pending = PendingScans::default();
    assert!(pending.is_empty());
    pending.add(&scans[..2], &enrolled);
    pending.add(&scans[2..], &enrolled);
    let (days, unknown) = pending.days(&with_night_shift());
    assert_eq!(
        days,
        DayKeys::from([
            (code("EMP001"), BTreeSet::from([d(23)])),
            (code("EMP002"), BTreeSet::from([d(22), d(23)])),
            (code("EMP003"), BTreeSet::from([d(23)])),
        ])
    );
    assert_eq!(
        unknown,
        BTreeMap::from([(code("EMP003"), ShiftId::parse("GHOST").unwrap())])
    );
    // On settings without the night shift, the night worker is dated on the default shift.
    let (_, unknown) = pending.days(&AttendanceSettings::default());
    assert_eq!(
        unknown.keys().collect::<Vec<_>>(),
        [&code("EMP002"), &code("EMP003")]
    );
    // No scans, no reads.
    assert!(block_on(service.enrolled(&[])).unwrap().is_empty());
    assert!(
        block_on(service.recompute_pending(&PendingScans::default(), local(24, 0, 0)))
            .unwrap()
            .recomputed
            .records
            .is_empty()
    );
}
