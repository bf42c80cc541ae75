//! Leave year-end (bulk allocation with pro rata, rollover, the balance list), the collection
//! `POST leave-policies/`, `joined_on` on employees and the seed's holiday names.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

const BALANCES: &str = "/api/attendance/leave-balances/";
const ALLOCATE: &str = "/api/attendance/leave-balances/allocate/";
const ROLLOVER: &str = "/api/attendance/leave-balances/rollover/";
const POLICIES: &str = "/api/attendance/leave-policies/";

/// `employee`'s balance of `leave_type` in `year`, as HR reads it.
async fn balance(app: &TestApp, hr: &str, employee: &str, leave_type: &str, year: i32) -> Value {
    let sheet = app
        .get_json(
            &format!("{BALANCES}?employee_id={employee}&year={year}&leave_type={leave_type}"),
            hr,
        )
        .await;
    let balances = sheet["balances"].as_array().unwrap();
    assert_eq!(balances.len(), 1, "{sheet}");
    balances[0].clone()
}

async fn set_joined_on(app: &TestApp, hr: &str, code: &str, department: &str, joined: &str) {
    let body = json!({
        "employee_name": format!("Name of {code}"), "department": department,
        "designation": "Operator", "level_of_work": "Worker", "joined_on": joined,
    });
    let view = app
        .call_json(
            Method::PUT,
            &format!("/api/attendance/employees/{code}/"),
            hr,
            Some(body),
            200,
        )
        .await;
    assert_eq!(view["joined_on"], joined);
}

#[tokio::test]
async fn the_year_is_allocated_once_prorated_and_rolled_over_within_the_cap() {
    let app = spawn_app().await;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;
    // Casual: 10 days a year, prorated; Annual: the statute's 18 days, up to 40 carried.
    let casual = json!({"leave_type": "Casual", "max_per_year": 10, "pro_rata": true});
    let stored = app
        .call_json(Method::POST, POLICIES, &hr, Some(casual), 201)
        .await;
    assert_eq!(stored["pro_rata"], true);
    // EMP002 joined on 1 July 2026: 184 of 365 days of 10 days = 5 days (rounded to halves).
    set_joined_on(&app, &hr, "EMP002", "Cutting", "2026-07-01").await;

    for token in [&head, &worker] {
        app.call_error(
            Method::POST,
            ALLOCATE,
            token,
            Some(json!({"year": 2026})),
            403,
        )
        .await;
        app.call_error(
            Method::POST,
            ROLLOVER,
            token,
            Some(json!({"from_year": 2026})),
            403,
        )
        .await;
    }
    let first = app
        .call_json(
            Method::POST,
            ALLOCATE,
            &hr,
            Some(json!({"year": 2026})),
            200,
        )
        .await;
    assert_eq!(first["year"], 2026);
    assert_eq!(first["employees"], 3);
    assert_eq!(first["changed"], 3);
    // Casual and Annual and the statute's other limited types with days (Sick, Maternity):
    // four entries each.
    assert_eq!(first["entries"], 12, "{first}");
    assert_eq!(first["days"]["Casual"]["allocation"], 25.0, "10 + 10 + 5");
    assert_eq!(
        balance(&app, &hr, "EMP001", "Casual", 2026).await["allocated"],
        10.0
    );
    assert_eq!(
        balance(&app, &hr, "EMP002", "Casual", 2026).await["allocated"],
        5.0
    );
    assert_eq!(
        balance(&app, &hr, "EMP002", "Annual", 2026).await["allocated"],
        18.0,
        "Annual is not prorated"
    );
    // Twice is once.
    let again = app
        .call_json(
            Method::POST,
            ALLOCATE,
            &hr,
            Some(json!({"year": 2026})),
            200,
        )
        .await;
    assert_eq!(
        (again["changed"].clone(), again["entries"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        balance(&app, &hr, "EMP001", "Casual", 2026).await["allocated"],
        10.0
    );

    // Rollover: Annual keeps up to 40 days (all 18), Casual carries nothing (all expire).
    let rolled = app
        .call_json(
            Method::POST,
            ROLLOVER,
            &hr,
            Some(json!({"from_year": 2026})),
            200,
        )
        .await;
    assert_eq!(rolled["year"], 2026);
    assert_eq!(rolled["days"]["Annual"]["carry_forward"], 54.0, "{rolled}");
    assert_eq!(rolled["days"]["Casual"]["expiry"], 25.0, "{rolled}");
    assert!(
        rolled["days"]["Casual"].get("allocation").is_none(),
        "{rolled}"
    );
    let annual_2027 = balance(&app, &hr, "EMP001", "Annual", 2027).await;
    assert_eq!(annual_2027["carried_forward"], 18.0);
    assert_eq!(
        annual_2027["allocated"], 0.0,
        "a rollover allocates nothing"
    );
    assert_eq!(
        balance(&app, &hr, "EMP001", "Annual", 2026).await["available"],
        0.0
    );
    let again = app
        .call_json(
            Method::POST,
            ROLLOVER,
            &hr,
            Some(json!({"from_year": 2026})),
            200,
        )
        .await;
    assert_eq!(again["entries"], 0);
    assert_eq!(
        balance(&app, &hr, "EMP001", "Annual", 2027).await["carried_forward"],
        18.0
    );

    // One department and one type at a time; EMP002 (Cutting) is left for later.
    let sewing = app
        .call_json(
            Method::POST,
            ALLOCATE,
            &hr,
            Some(json!({"year": 2027, "department": "Sewing", "leave_type": "Casual"})),
            200,
        )
        .await;
    assert_eq!(
        (sewing["employees"].clone(), sewing["entries"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        balance(&app, &hr, "EMP002", "Casual", 2027).await["allocated"],
        0.0
    );
    assert_eq!(
        balance(&app, &hr, "EMP001", "Casual", 2027).await["allocated"],
        10.0,
        "joined before 2027: the whole year"
    );

    // Bad bodies name the problem; nothing is written.
    for (body, status) in [
        (json!({"year": 0}), 422),
        (json!({"year": 2026, "leave_type": "!!"}), 422),
        (json!({"year": 2026, "colour": "red"}), 422),
        (json!({"year": 2026, "leave_type": "Sabbatical"}), 404),
    ] {
        app.call_error(Method::POST, ALLOCATE, &hr, Some(body), status)
            .await;
    }
    for body in [
        json!({}),
        json!({"from_year": "last"}),
        json!({"from_year": 9999}),
    ] {
        app.call_error(Method::POST, ROLLOVER, &hr, Some(body), 422)
            .await;
    }

    // The audit trail shows each run, by HR.
    let log = app
        .get_json("/api/attendance/audit-log/?action=leave_allocated", &hr)
        .await;
    assert_eq!(log["count"], 3, "{log}");
    assert_eq!(log["results"][0]["actor"], "hr");
    assert_eq!(log["results"][0]["target"], "leave-year:2027");
}

#[tokio::test]
async fn balances_are_listed_in_scope_paginated_and_filtered() {
    let app = spawn_app().await;
    let [hr, head, worker] = app.tokens(["hr", "head", "worker"]).await;
    app.call_json(
        Method::POST,
        ALLOCATE,
        &hr,
        Some(json!({"year": 2026})),
        200,
    )
    .await;

    let all = app
        .get_json(&format!("{BALANCES}?year=2026&page_size=2"), &hr)
        .await;
    assert_eq!(all["count"], 3);
    let page: Vec<&str> = all["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["employee_id"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["EMP001", "EMP002"]);
    assert!(all["next"].is_string(), "{all}");
    let casual_only = app
        .get_json(
            &format!("{BALANCES}?year=2026&leave_type=Casual&department=Cutting"),
            &hr,
        )
        .await;
    assert_eq!(casual_only["count"], 1);
    let sheet = &casual_only["results"][0];
    assert_eq!(sheet["employee_id"], "EMP002");
    assert_eq!(sheet["balances"].as_array().unwrap().len(), 1);
    assert_eq!(sheet["balances"][0]["allocated"], 10.0);

    // A head lists their own department only.
    let sewing = app.get_json(&format!("{BALANCES}?year=2026"), &head).await;
    assert_eq!(sewing["count"], 2, "{sewing}");
    assert!(
        sewing["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["department"] == "Sewing")
    );
    app.get_error(&format!("{BALANCES}?department=Cutting"), &head, 403)
        .await;
    // An employee still gets their own sheet, as before.
    let own = app
        .get_json(&format!("{BALANCES}?year=2026"), &worker)
        .await;
    assert_eq!(own["employee_id"], "EMP001");
    assert!(own.get("count").is_none(), "{own}");
    app.get_error(&format!("{BALANCES}?leave_type=!!"), &hr, 422)
        .await;
}

#[tokio::test]
async fn policies_are_created_on_the_collection_once() {
    let app = spawn_app().await;
    let [hr, worker] = app.tokens(["hr", "worker"]).await;
    let body = json!({"leave_type": "Study", "max_per_year": 5, "max_carry_forward": 1});
    app.call_error(Method::POST, POLICIES, &worker, Some(body.clone()), 403)
        .await;
    let created = app
        .call_json(Method::POST, POLICIES, &hr, Some(body.clone()), 201)
        .await;
    assert_eq!(created["leave_type"], "Study");
    assert_eq!(created["max_per_year"], 5.0);
    assert_eq!(created["pro_rata"], false);
    assert_eq!(created["is_default"], false);
    assert_eq!(
        app.call_error(Method::POST, POLICIES, &hr, Some(body), 409)
            .await,
        "conflict"
    );
    let listed = app.get_json(POLICIES, &hr).await;
    assert_eq!(listed["count"], 7);
    assert_eq!(
        app.call_error(
            Method::POST,
            POLICIES,
            &hr,
            Some(json!({"max_per_year": 5})),
            422
        )
        .await,
        "validation_error"
    );
    app.call_error(
        Method::POST,
        POLICIES,
        &hr,
        Some(json!({"leave_type": "Casual", "max_per_year": -1})),
        422,
    )
    .await;
    // A named type with only its statutory default may be created once too.
    let casual = app
        .call_json(
            Method::POST,
            POLICIES,
            &hr,
            Some(json!({"leave_type": "Casual", "max_per_year": 12})),
            201,
        )
        .await;
    assert_eq!(casual["max_per_year"], 12.0);
}

#[tokio::test]
async fn employees_keep_their_joining_date() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    let body = json!({
        "employee_id": "EMP030", "employee_name": "New Joiner", "department": "Sewing",
        "designation": "Operator", "level_of_work": "Worker", "joined_on": "2026-11-02",
    });
    let created = app
        .call_json(
            Method::POST,
            "/api/attendance/employees/",
            &hr,
            Some(body.clone()),
            201,
        )
        .await;
    assert_eq!(created["joined_on"], "2026-11-02");
    let read = app.get_json("/api/attendance/employees/EMP030/", &hr).await;
    assert_eq!(read["joined_on"], "2026-11-02");
    let mut bad = body.clone();
    bad["employee_id"] = json!("EMP031");
    bad["joined_on"] = json!("2 Nov");
    let code = app
        .call_error(
            Method::POST,
            "/api/attendance/employees/",
            &hr,
            Some(bad),
            422,
        )
        .await;
    assert_eq!(code, "validation_error");
    let seeded = app.get_json("/api/attendance/employees/EMP001/", &hr).await;
    assert_eq!(seeded["joined_on"], Value::Null);
}

#[tokio::test]
async fn holidays_take_the_seed_names_and_a_type() {
    let app = spawn_app().await;
    let hr = app.token("hr").await;
    const PATH: &str = "/api/attendance/holidays/";
    let seed = json!({
        "name": "Founders' Day", "start_date": "2026-08-10", "end_date": "2026-08-11",
        "is_recurring": true, "is_observed": false, "holiday_type": "company",
    });
    let created = app
        .call_json(Method::POST, PATH, &hr, Some(seed), 201)
        .await;
    let h = &created["holiday"];
    assert_eq!(
        (&h["start"], &h["start_date"], &h["end"], &h["end_date"]),
        (
            &json!("2026-08-10"),
            &json!("2026-08-10"),
            &json!("2026-08-11"),
            &json!("2026-08-11")
        )
    );
    assert_eq!(
        (&h["recurring_yearly"], &h["is_recurring"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        (&h["observed"], &h["is_observed"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(h["holiday_type"], "company");
    let id = h["id"].as_i64().unwrap();
    let read = app.get_json(&format!("{PATH}{id}/"), &hr).await;
    assert_eq!(read["holiday_type"], "company");
    // Today's names still work, and the type defaults to public.
    let plain = app
        .call_json(
            Method::POST,
            PATH,
            &hr,
            Some(json!({"name": "Victory Day", "start": "2026-12-16"})),
            201,
        )
        .await;
    assert_eq!(plain["holiday"]["holiday_type"], "public");
    for bad in [
        json!({"name": "X", "start": "2026-08-10", "holiday_type": "bank"}),
        json!({"name": "X", "start": "2026-08-10", "start_date": "2026-08-11"}),
    ] {
        app.call_error(Method::POST, PATH, &hr, Some(bad), 422)
            .await;
    }
}

#[tokio::test]
async fn leave_requests_take_a_priority() {
    let app = spawn_app().await;
    let [hr, worker] = app.tokens(["hr", "worker"]).await;
    app.call_json(
        Method::POST,
        ALLOCATE,
        &hr,
        Some(json!({"year": 2027})),
        200,
    )
    .await;
    const REQUESTS: &str = "/api/attendance/leave-requests/";
    let body = |day: &str, priority: Option<&str>| {
        let mut b = json!({"leave_type": "Casual", "start_date": day, "end_date": day});
        if let Some(p) = priority {
            b["priority"] = json!(p);
        }
        b
    };
    let urgent = app
        .call_json(
            Method::POST,
            REQUESTS,
            &worker,
            Some(body("2027-03-02", Some("Urgent"))),
            201,
        )
        .await;
    assert_eq!(urgent["priority"], "urgent");
    let plain = app
        .call_json(
            Method::POST,
            REQUESTS,
            &worker,
            Some(body("2027-03-03", None)),
            201,
        )
        .await;
    assert_eq!(plain["priority"], "normal");
    let response = app
        .call(
            Method::POST,
            REQUESTS,
            &worker,
            Some(body("2027-03-04", Some("asap"))),
        )
        .await;
    let error = crate::helpers::json_of(response, 422).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("priority"),
        "{error}"
    );
    let id = urgent["id"].as_str().unwrap();
    let read = app.get_json(&format!("{REQUESTS}{id}/"), &hr).await;
    assert_eq!(read["priority"], "urgent", "kept by the store");
}
