//! Leave policies on PostgreSQL: migration 6 gives a policy stored before approval chains
//! existed its chain, `head_then_hr`, and a chain stored since reads back.

use attendance_core::calendar::LeaveType;
use attendance_core::leave::{LeaveApproval, LeavePolicy};
use attendance_core::store::LeaveStore;
use attendance_store_postgres::{PgOptions, PgStore, testkit};
use sqlx::{Connection, PgConnection};

async fn stored_json(conn: &mut PgConnection, leave_type: &str) -> serde_json::Value {
    let text: String =
        sqlx::query_scalar("SELECT data FROM att_leave_policies WHERE leave_type = $1")
            .bind(leave_type)
            .fetch_one(conn)
            .await
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_6_gives_older_policies_their_approval_chain() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let url = server.database().await;
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let casual = LeavePolicy::default_for(LeaveType::Casual);
    let sick = LeavePolicy {
        approval: LeaveApproval::HeadOnly,
        ..LeavePolicy::default_for(LeaveType::Sick)
    };
    store.put_leave_policy(&casual).await.unwrap();
    store.put_leave_policy(&sick).await.unwrap();
    store.close().await;
    // Back to how a build without approval chains left the database.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE att_leave_policies SET data = (data::jsonb - 'approval')::text \
         WHERE leave_type = 'Casual'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("DELETE FROM att_schema_migrations WHERE version = 6")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(
        stored_json(&mut conn, "Casual")
            .await
            .get("approval")
            .is_none()
    );

    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    assert_eq!(
        stored_json(&mut conn, "Casual").await["approval"],
        "head_then_hr",
        "the older policy states its chain"
    );
    assert_eq!(
        stored_json(&mut conn, "Sick").await["approval"],
        "head_only",
        "a chain already stored is kept"
    );
    assert_eq!(
        store.leave_policy(&LeaveType::Casual).await.unwrap(),
        casual
    );
    assert_eq!(store.leave_policy(&LeaveType::Sick).await.unwrap(), sick);
    store.close().await;
    drop(conn);
    server.cleanup().await;
}
