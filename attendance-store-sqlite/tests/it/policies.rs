//! Leave policies in SQLite files: migration 6 gives a policy stored before approval chains
//! existed its chain, `head_then_hr`, and a chain stored since reads back.

use std::path::Path;

use attendance_core::calendar::LeaveType;
use attendance_core::leave::{LeaveApproval, LeavePolicy};
use attendance_core::store::LeaveStore;
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
        .await
        .unwrap()
}

async fn stored_json(conn: &mut SqliteConnection, leave_type: &str) -> serde_json::Value {
    let text: String =
        sqlx::query_scalar("SELECT data FROM att_leave_policies WHERE leave_type = ?")
            .bind(leave_type)
            .fetch_one(conn)
            .await
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_6_gives_older_policies_their_approval_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("older.db");
    let store = open(&path).await;
    let casual = LeavePolicy::default_for(LeaveType::Casual);
    let sick = LeavePolicy {
        approval: LeaveApproval::HrOnly,
        ..LeavePolicy::default_for(LeaveType::Sick)
    };
    store.put_leave_policy(&casual).await.unwrap();
    store.put_leave_policy(&sick).await.unwrap();
    store.close().await;
    // Back to how a build without approval chains left the file: the casual policy's JSON has
    // no `approval`, and migration 6 is not recorded.
    let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    sqlx::query(
        "UPDATE att_leave_policies SET data = json_remove(data, '$.approval') \
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

    let store = open(&path).await;
    assert_eq!(
        stored_json(&mut conn, "Casual").await["approval"],
        "head_then_hr",
        "the older policy states its chain"
    );
    assert_eq!(
        stored_json(&mut conn, "Sick").await["approval"],
        "hr_only",
        "a chain already stored is kept"
    );
    assert_eq!(
        store.leave_policy(&LeaveType::Casual).await.unwrap(),
        casual
    );
    assert_eq!(store.leave_policy(&LeaveType::Sick).await.unwrap(), sick);
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM att_schema_migrations WHERE version = 6")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, [6]);
    store.close().await;
}
