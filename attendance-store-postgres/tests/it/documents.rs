//! Leave documents on PostgreSQL: bytea round trips through a fresh connection, the migration
//! that adds their table to an older database, and documents going with their request. The
//! limit under racing uploads is conformance check `leave_documents_keep_their_bytes_order_and_limit`.

use attendance_core::store::conformance::{sample_leave_document, seed_leave_request};
use attendance_core::store::{LeaveDocumentStore, StoreError};
use attendance_store_postgres::{PgOptions, PgStore, testkit};
use attendance_store_sql::schema::MIGRATIONS;
use sqlx::{Connection, PgConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_database_gets_the_documents_table_and_documents_go_with_their_request() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let url = server.database().await;
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let request = seed_leave_request(&store, "EMP001", "L-1").await.unwrap();
    store.close().await;
    // Back to how a build without migration 3 left the database.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("DROP TABLE att_leave_documents")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM att_schema_migrations WHERE version = 3")
        .execute(&mut conn)
        .await
        .unwrap();

    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let files = [
        sample_leave_document("L-1", "D-1", (0..=255).cycle().take(70_000).collect()).unwrap(),
        sample_leave_document("L-1", "D-2", Vec::new()).unwrap(),
    ];
    for file in &files {
        store.add_leave_document(file.clone(), 10).await.unwrap();
    }
    store.close().await;
    // A new pool reads the same bytes back from the server, not from any cache.
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    for file in &files {
        let got = store
            .leave_document(&request, &file.document.id)
            .await
            .unwrap();
        assert!(got == *file, "{} read back as {got:?}", file.document.id);
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM att_schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, all, "every migration recorded once");
    let column_type: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns \
         WHERE table_name = 'att_leave_documents' AND column_name = 'content'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(column_type, "bytea");

    // The store has no call to delete a request; a host application deleting one in SQL
    // takes its documents with it.
    sqlx::query("DELETE FROM att_leave_requests WHERE id = $1")
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
    conn.close().await.unwrap();
    server.cleanup().await;
}
