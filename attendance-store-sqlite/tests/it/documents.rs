//! Leave documents in SQLite files: the migration that adds their table to an older database,
//! and documents going with their request.

use std::path::Path;

use attendance_core::store::conformance::{sample_leave_document, seed_leave_request};
use attendance_core::store::{LeaveDocumentStore, StoreError};
use attendance_store_sql::schema::MIGRATIONS;
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path.to_str().unwrap(), SqliteOptions::default())
        .await
        .unwrap()
}

async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true),
    )
    .await
    .unwrap()
}

async fn applied_versions(conn: &mut SqliteConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM att_schema_migrations ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_database_gets_the_documents_table_and_documents_go_with_their_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("older.db");
    let store = open(&path).await;
    let request = seed_leave_request(&store, "EMP001", "L-1").await.unwrap();
    store.close().await;
    // Back to how a build without migration 3 left the file: its table gone, its version not
    // recorded (whatever else was applied).
    let mut conn = raw(&path).await;
    sqlx::query("DROP TABLE att_leave_documents")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM att_schema_migrations WHERE version = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(!applied_versions(&mut conn).await.contains(&3));

    let store = open(&path).await;
    let files = [
        sample_leave_document("L-1", "D-1", vec![0, 0xFF, 0x25, 0]).unwrap(),
        sample_leave_document("L-1", "D-2", Vec::new()).unwrap(),
    ];
    for file in &files {
        store.add_leave_document(file.clone(), 10).await.unwrap();
    }
    for file in &files {
        let got = store
            .leave_document(&request, &file.document.id)
            .await
            .unwrap();
        assert!(got == *file, "{} read back as {got:?}", file.document.id);
    }
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(
        applied_versions(&mut conn).await,
        all,
        "every migration recorded once"
    );

    // The store has no call to delete a request; a host application deleting one in SQL
    // takes its documents with it.
    sqlx::query("DELETE FROM att_leave_requests WHERE id = ?")
        .bind(request.as_str())
        .execute(&mut conn)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM att_leave_documents")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(matches!(
        store.leave_documents(&request).await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
}
