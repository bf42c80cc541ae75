//! [`LeaveDocumentStore`](attendance_core::store::LeaveDocumentStore) over a [`SqlBackend`]:
//! the transactions around the rows of [`document`](crate::document). Adding a document counts
//! the request's documents and inserts in one write transaction after
//! [`SqlBackend::hold_request`], so of uploads racing for the last place exactly one is stored.

use attendance_core::leave::{LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeaveRequestId};
use attendance_core::store::StoreResult;

use super::{fetch_count, json_rows};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::document::{DocumentRow, decode_file, document_not_found, request_not_found};
use crate::stmt;

/// [`LeaveDocumentStore::add_leave_document`](attendance_core::store::LeaveDocumentStore::add_leave_document).
pub async fn add_leave_document<B: SqlBackend>(
    store: &B,
    file: LeaveDocumentFile,
    max_per_request: u32,
) -> StoreResult<()> {
    let row = DocumentRow::new(file)?;
    let what = "attach a leave document";
    let mut tx = store.begin_write().await?;
    if !store.hold_request(&mut tx, &row.request, what).await? {
        return Err(request_not_found(&row.request));
    }
    let documents = stmt::count_documents_of(&row.request);
    let held = fetch_count(store, On::Tx(&mut tx), &documents, what).await?;
    row.check_room(held, max_per_request)?;
    store
        .execute(On::Tx(&mut tx), &row.into_insert(), what)
        .await?;
    B::commit(tx, what).await
}

/// [`LeaveDocumentStore::leave_documents`](attendance_core::store::LeaveDocumentStore::leave_documents).
pub async fn leave_documents<B: SqlBackend>(
    store: &B,
    request: &LeaveRequestId,
) -> StoreResult<Vec<LeaveDocument>> {
    let what = "list leave documents";
    let mut tx = store.begin_read().await?;
    let requests = stmt::count_leave_request(request.as_str());
    if fetch_count(store, On::Tx(&mut tx), &requests, what).await? == 0 {
        return Err(request_not_found(request.as_str()));
    }
    let statement = stmt::select_documents_of(request.as_str());
    let rows = store.fetch_all(On::Tx(&mut tx), &statement, what).await?;
    B::commit(tx, what).await?;
    json_rows(&rows, "leave document")
}

/// [`LeaveDocumentStore::leave_document`](attendance_core::store::LeaveDocumentStore::leave_document):
/// with its bytes.
pub async fn leave_document<B: SqlBackend>(
    store: &B,
    request: &LeaveRequestId,
    id: &LeaveDocumentId,
) -> StoreResult<LeaveDocumentFile> {
    let what = "read a leave document";
    let statement = stmt::select_document(request.as_str(), id.as_str());
    match store.fetch_optional(On::Read, &statement, what).await? {
        Some(row) => decode_file(&row.text(0, what)?, row.bytes(1, what)?),
        None => Err(document_not_found(request, id)),
    }
}
