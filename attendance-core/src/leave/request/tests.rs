//! Submitting leave: the table of applications and what each gives, consecutive runs, and the
//! fixtures the approval tests share.

use super::*;
use crate::leave::ApprovalChain;

pub(crate) fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

pub(crate) fn code(text: &str) -> EmployeeCode {
    EmployeeCode::parse(text).unwrap()
}

pub(crate) fn application(
    leave_type: LeaveType,
    start: NaiveDate,
    end: NaiveDate,
) -> LeaveApplication {
    LeaveApplication {
        employee: code("EMP1"),
        department: Department::parse("Sewing").unwrap(),
        leave_type,
        start,
        end,
        start_half: false,
        end_half: false,
        reason: String::new(),
        medical_certificate: false,
        priority: Default::default(),
    }
}

/// Friday off and a holiday on 17 March 2026.
pub(crate) fn holidays() -> BTreeMap<NaiveDate, String> {
    BTreeMap::from([(d(2026, 3, 17), "Holiday".to_owned())])
}

pub(crate) fn ledger_with(
    leave_type: LeaveType,
    entries: &[(LedgerEntryKind, i32, i64)],
) -> LeaveLedger {
    let entries = entries
        .iter()
        .map(|&(kind, year, halves)| {
            LedgerEntry::new(kind, year, d(2026, 1, 1), HalfDays::new(halves), "seed").unwrap()
        })
        .collect();
    LeaveLedger::from_entries(code("EMP1"), leave_type, entries).unwrap()
}

fn ledger_for(leave_type: &LeaveType) -> LeaveLedger {
    use LedgerEntryKind::*;
    let entries: &[(LedgerEntryKind, i32, i64)] = match leave_type {
        // 10 days, half a day taken by the approved request A1.
        LeaveType::Casual => &[(Allocation, 2026, 20), (Taken, 2026, 1)],
        LeaveType::Sick => &[(Allocation, 2026, 28)],
        LeaveType::Annual => &[(Allocation, 2026, 36)],
        LeaveType::Maternity => &[(Allocation, 2026, 224)],
        _ => &[],
    };
    ledger_with(leave_type.clone(), entries)
}

/// The employee's other requests: P1 pending casual on 10 March, A1 approved casual on the
/// morning of 23 March, R1 rejected casual on 24 March.
fn existing() -> Vec<LeaveRequest> {
    let make = |id: &str, start, end_half, status| {
        let mut app = application(LeaveType::Casual, start, start);
        app.end_half = end_half;
        let ctx = RequestContext {
            policy: &LeavePolicy::default_for(LeaveType::Casual),
            weekly_off_days: &[Weekday::Fri],
            holidays: &holidays(),
            ledger: &ledger_for(&LeaveType::Casual),
            requests: &[],
        };
        let (mut request, _) = submit(
            LeaveRequestId::parse(id).unwrap(),
            &app,
            &ctx,
            &ApprovalChain::default(),
            d(2026, 3, 1),
        )
        .unwrap();
        request.status = status;
        request
    };
    vec![
        make("P1", d(2026, 3, 10), false, RequestStatus::Pending),
        make("A1", d(2026, 3, 23), true, RequestStatus::Approved),
        make("R1", d(2026, 3, 24), false, RequestStatus::Rejected),
    ]
}

/// Submits `app` against the policy and ledger of its type and the existing requests, and
/// compares the counted half days (or the error) with `expected`.
fn check(app: &LeaveApplication, expected: Result<i64, LeaveRequestError>) {
    let policy = LeavePolicy::default_for(app.leave_type.clone());
    let ledger = ledger_for(&app.leave_type);
    let requests = existing();
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[Weekday::Fri],
        holidays: &holidays(),
        ledger: &ledger,
        requests: &requests,
    };
    let got = submit(
        LeaveRequestId::parse("NEW").unwrap(),
        app,
        &ctx,
        &ApprovalChain::default(),
        d(2026, 3, 1),
    )
    .map(|(request, outcome)| {
        assert_eq!(request.status, RequestStatus::Pending);
        assert_eq!(
            outcome,
            ApprovalOutcome::AwaitingLevel(ApprovalLevel::DepartmentHead)
        );
        request.amount.halves()
    });
    assert_eq!(got, expected, "{app:?}");
}

fn with(mut app: LeaveApplication, change: impl FnOnce(&mut LeaveApplication)) -> LeaveApplication {
    change(&mut app);
    app
}

#[test]
fn submission_table() {
    use LeaveRequestError as E;
    use LeaveType::*;
    let h = HalfDays::new;
    let id = |s: &str| LeaveRequestId::parse(s).unwrap();
    let cases: Vec<(LeaveApplication, Result<i64, LeaveRequestError>)> = vec![
        // A working day; Thursday to Saturday around the Friday off.
        (application(Casual, d(2026, 3, 2), d(2026, 3, 2)), Ok(2)),
        (application(Casual, d(2026, 3, 5), d(2026, 3, 7)), Ok(4)),
        // Annual leave counts the sandwiched Friday.
        (application(Annual, d(2026, 3, 5), d(2026, 3, 7)), Ok(6)),
        (
            application(Casual, d(2026, 3, 7), d(2026, 3, 5)),
            Err(E::DatesReversed {
                start: d(2026, 3, 7),
                end: d(2026, 3, 5),
            }),
        ),
        // Overlaps: pending P1, approved A1 (morning); the rejected R1 does not count; the
        // afternoon of A1's date is free.
        (
            application(Casual, d(2026, 3, 9), d(2026, 3, 11)),
            Err(E::Overlap {
                other: id("P1"),
                date: d(2026, 3, 10),
            }),
        ),
        (
            application(Casual, d(2026, 3, 23), d(2026, 3, 23)),
            Err(E::Overlap {
                other: id("A1"),
                date: d(2026, 3, 23),
            }),
        ),
        (
            with(application(Casual, d(2026, 3, 23), d(2026, 3, 23)), |a| {
                a.start_half = true
            }),
            Ok(1),
        ),
        (application(Casual, d(2026, 3, 24), d(2026, 3, 24)), Ok(2)),
        // Balance: 19 available, 2 pending: 17 half days may still be asked for.
        (application(Casual, d(2026, 4, 1), d(2026, 4, 9)), Ok(16)),
        (
            with(application(Casual, d(2026, 4, 1), d(2026, 4, 11)), |a| {
                a.end_half = true
            }),
            Ok(17),
        ),
        (
            application(Casual, d(2026, 4, 1), d(2026, 4, 11)),
            Err(E::InsufficientBalance {
                leave_type: Casual,
                year: 2026,
                available: h(19),
                pending: h(2),
                requested: h(18),
            }),
        ),
        // A year with nothing allocated (1 January 2027 is a sandwiched Friday).
        (
            application(Annual, d(2026, 12, 30), d(2027, 1, 2)),
            Err(E::InsufficientBalance {
                leave_type: Annual,
                year: 2027,
                available: h(0),
                pending: h(0),
                requested: h(4),
            }),
        ),
        // Sick: a certificate above 2 days, no half days.
        (application(Sick, d(2026, 3, 2), d(2026, 3, 3)), Ok(4)),
        (
            application(Sick, d(2026, 3, 2), d(2026, 3, 4)),
            Err(E::CertificateRequired {
                requested: h(6),
                above: h(4),
            }),
        ),
        (
            with(application(Sick, d(2026, 3, 2), d(2026, 3, 4)), |a| {
                a.medical_certificate = true
            }),
            Ok(6),
        ),
        (
            with(application(Sick, d(2026, 3, 2), d(2026, 3, 2)), |a| {
                a.end_half = true
            }),
            Err(E::HalfDayNotAllowed { leave_type: Sick }),
        ),
        // Only off days, or a single date that starts and ends at midday.
        (
            application(Casual, d(2026, 3, 6), d(2026, 3, 6)),
            Err(E::NoWorkingDays),
        ),
        (
            application(Casual, d(2026, 3, 17), d(2026, 3, 17)),
            Err(E::NoWorkingDays),
        ),
        (
            with(application(Casual, d(2026, 3, 2), d(2026, 3, 2)), |a| {
                a.start_half = true;
                a.end_half = true;
            }),
            Err(E::NoWorkingDays),
        ),
        // Maternity: 112 calendar days at most.
        (
            application(Maternity, d(2026, 5, 1), d(2026, 8, 20)),
            Ok(224),
        ),
        (
            application(Maternity, d(2026, 5, 1), d(2026, 8, 21)),
            Err(E::TooManyConsecutiveDays {
                requested: h(226),
                max: h(224),
            }),
        ),
        // Unpaid: no balance needed, but a span limit.
        (application(Unpaid, d(2026, 3, 2), d(2026, 3, 5)), Ok(8)),
        (
            application(Unpaid, d(2026, 1, 1), d(2027, 1, 2)),
            Err(E::SpanTooLong {
                days: 367,
                max: 366,
            }),
        ),
        (
            with(application(Casual, d(2026, 3, 2), d(2026, 3, 2)), |a| {
                a.reason = "x".repeat(1001)
            }),
            Err(E::Invalid(ValidationError::TooLong {
                field: "reason",
                len: 1001,
                max: 1000,
            })),
        ),
    ];
    for (app, expected) in cases {
        check(&app, expected);
    }
}

/// Submits a casual request from `start` to `end` (days of March 2026, halves as given) next to
/// an approved one on Thursday 5 March (ending at midday when `existing_half`), under a policy
/// that wants a certificate above 2 days and allows at most 4 in a row, and compares the
/// outcome with `expected` (the counted half days, or the error).
fn check_run(
    (start, end, start_half): (u32, u32, bool),
    existing_half: bool,
    expected: Result<i64, LeaveRequestError>,
) {
    let mut policy = LeavePolicy::default_for(LeaveType::Casual);
    policy.certificate_required_above = Some(HalfDays::from_days(2));
    let ledger = ledger_with(
        LeaveType::Casual,
        &[(LedgerEntryKind::Allocation, 2026, 40)],
    );
    let holidays = holidays();
    let submit_one = |id: &str, app: &LeaveApplication, requests: &[LeaveRequest]| {
        let ctx = RequestContext {
            policy: &policy,
            weekly_off_days: &[Weekday::Fri],
            holidays: &holidays,
            ledger: &ledger,
            requests,
        };
        submit(
            LeaveRequestId::parse(id).unwrap(),
            app,
            &ctx,
            &ApprovalChain::default(),
            d(2026, 3, 1),
        )
    };
    let mut first = application(LeaveType::Casual, d(2026, 3, 4), d(2026, 3, 5));
    first.end_half = existing_half;
    let (mut first, _) = submit_one("E1", &first, &[]).unwrap();
    first.status = RequestStatus::Approved;
    let mut app = application(LeaveType::Casual, d(2026, 3, start), d(2026, 3, end));
    app.start_half = start_half;
    let got = submit_one("NEW", &app, std::slice::from_ref(&first)).map(|(r, _)| r.amount.halves());
    assert_eq!(
        got, expected,
        "{start}..{end} after a leave ending at midday: {existing_half}"
    );
}

#[test]
fn consecutive_table() {
    use LeaveRequestError as E;
    let h = HalfDays::new;
    let cert = |requested| {
        Err(E::CertificateRequired {
            requested: h(requested),
            above: h(4),
        })
    };
    // Saturday 7 March joins Wednesday–Thursday across the Friday off: 3 days in a row.
    check_run((7, 7, false), false, cert(6));
    // Starting at midday, or after a leave that ended at midday, breaks the run.
    check_run((7, 7, true), false, Ok(1));
    check_run((7, 7, false), true, Ok(2));
    // A working day between: separate leaves.
    check_run((9, 9, false), false, Ok(2));
    // Before the existing leave: Tuesday 3 March joins it.
    check_run((3, 3, false), false, cert(6));
    check_run((2, 2, false), false, Ok(2));
}

#[test]
fn a_policy_without_approval_approves_on_submission() {
    let mut policy = LeavePolicy::default_for(LeaveType::Casual);
    policy.requires_approval = false;
    let ledger = ledger_for(&LeaveType::Casual);
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[Weekday::Fri],
        holidays: &holidays(),
        ledger: &ledger,
        requests: &[],
    };
    let mut app = application(LeaveType::Casual, d(2026, 3, 4), d(2026, 3, 5));
    app.end_half = true;
    let (request, outcome) = submit(
        LeaveRequestId::parse("X1").unwrap(),
        &app,
        &ctx,
        &ApprovalChain::default(),
        d(2026, 3, 1),
    )
    .unwrap();
    assert_eq!(request.status, RequestStatus::Approved);
    let ApprovalOutcome::Approved(fin) = outcome else {
        panic!("not approved: {outcome:?}");
    };
    assert_eq!(fin.debits.len(), 1);
    assert_eq!(
        (
            fin.debits[0].kind,
            fin.debits[0].year,
            fin.debits[0].amount,
            fin.debits[0].reference.as_str()
        ),
        (LedgerEntryKind::Taken, 2026, HalfDays::new(3), "X1")
    );
    let half: Vec<_> = fin
        .leave_days
        .iter()
        .map(|(date, day)| (*date, day.half_day))
        .collect();
    assert_eq!(half, vec![(d(2026, 3, 4), false), (d(2026, 3, 5), true)]);
    assert_eq!(
        approved_leave_days(std::slice::from_ref(&request)),
        fin.leave_days
    );
    // A policy or ledger of another type is refused.
    let sick = LeavePolicy::default_for(LeaveType::Sick);
    let ctx = RequestContext {
        policy: &sick,
        ..ctx
    };
    assert!(matches!(
        submit(
            LeaveRequestId::parse("X2").unwrap(),
            &app,
            &ctx,
            &ApprovalChain::default(),
            d(2026, 3, 1)
        ),
        Err(LeaveRequestError::ContextMismatch { .. })
    ));
}

#[test]
fn approved_half_days_on_one_date_make_a_full_day() {
    let mut requests = existing();
    for r in &mut requests {
        r.status = RequestStatus::Approved;
    }
    let mut afternoon = requests[1].clone();
    afternoon.id = LeaveRequestId::parse("A2").unwrap();
    afternoon.days[0].part = DayPart::SecondHalf;
    requests.push(afternoon);
    let days = approved_leave_days(&requests);
    assert_eq!(days.len(), 3);
    assert!(!days[&d(2026, 3, 23)].half_day);
    assert_eq!(
        pending_units(&existing(), &code("EMP1"), &LeaveType::Casual, 2026),
        HalfDays::new(2)
    );
}

#[test]
fn dates_far_from_the_submission_are_refused() {
    let on = d(2026, 3, 1);
    let earliest = d(2025, 2, 28);
    let latest = d(2028, 3, 1);
    let horizon = || Err(LeaveRequestError::OutsideHorizon { earliest, latest });
    // The year 9000, and a start more than a year back.
    check(
        &application(LeaveType::Casual, d(9000, 1, 2), d(9000, 1, 2)),
        horizon(),
    );
    check(
        &application(LeaveType::Casual, d(2025, 2, 27), d(2025, 2, 27)),
        horizon(),
    );
    check(
        &application(LeaveType::Casual, d(2028, 3, 1), d(2028, 3, 2)),
        horizon(),
    );
    // The edges themselves are allowed (unpaid leave: no balance to run out; the earliest is a
    // Friday off, so the Saturday after it is the one working day).
    assert_eq!(on - chrono::Days::new(366), earliest);
    let saturday = earliest + chrono::Days::new(1);
    check(&application(LeaveType::Unpaid, earliest, saturday), Ok(2));
    check(&application(LeaveType::Unpaid, latest, latest), Ok(2));
}

#[test]
fn pending_and_daily_requests_are_bounded_per_employee() {
    let policy = LeavePolicy::default_for(LeaveType::Unpaid);
    let ledger = ledger_for(&LeaveType::Unpaid);
    let submit_with = |requests: &[LeaveRequest], n: usize| {
        let ctx = RequestContext {
            policy: &policy,
            weekly_off_days: &[Weekday::Fri],
            holidays: &holidays(),
            ledger: &ledger,
            requests,
        };
        let day = d(2026, 4, 1) + chrono::Days::new(n as u64 * 7);
        submit(
            LeaveRequestId::parse(&format!("Q{n}")).unwrap(),
            &application(LeaveType::Unpaid, day, day),
            &ctx,
            &ApprovalChain::default(),
            d(2026, 3, 1),
        )
        .map(|(request, _)| request)
    };
    let mut requests = Vec::new();
    for n in 0..MAX_PENDING_REQUESTS {
        requests.push(submit_with(&requests, n).unwrap());
    }
    assert_eq!(
        submit_with(&requests, 99),
        Err(LeaveRequestError::TooManyPending {
            pending: MAX_PENDING_REQUESTS,
            max: MAX_PENDING_REQUESTS
        })
    );
    // Cancelling frees the pending places, but not the day's: cancel and resubmit is bounded.
    for request in &mut requests {
        request.status = RequestStatus::Cancelled;
    }
    for n in MAX_PENDING_REQUESTS..MAX_REQUESTS_PER_DAY {
        requests.push(submit_with(&requests, n).unwrap());
    }
    assert_eq!(
        submit_with(&requests, 99),
        Err(LeaveRequestError::TooManyToday {
            submitted: MAX_REQUESTS_PER_DAY,
            max: MAX_REQUESTS_PER_DAY
        })
    );
}
