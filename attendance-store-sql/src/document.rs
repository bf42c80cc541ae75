//! The store-independent half of [`LeaveDocumentStore`](attendance_core::store::LeaveDocumentStore):
//! a document as its row (checked and encoded), the row back, and the errors both stores give.
//! The transactions around them are [`contract::documents`](crate::contract::documents), where
//! each store only holds the request its own way
//! ([`SqlBackend::hold_request`](crate::backend::SqlBackend::hold_request)): locked on
//! PostgreSQL, behind the one writer on SQLite.

use attendance_core::leave::{LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeaveRequestId};
use attendance_core::store::{StoreError, StoreResult};
use sea_query::InsertStatement;

use crate::codec::{from_json, to_json};
use crate::stmt;

/// A document as its row holds it.
#[derive(Debug, Clone)]
pub struct DocumentRow {
    /// The document id.
    pub id: String,
    /// The request id.
    pub request: String,
    /// The metadata as JSON.
    pub data: String,
    /// The file's bytes.
    pub content: Vec<u8>,
}

impl DocumentRow {
    /// The row of `file`; [`StoreError::Invalid`] if its size is not the length of its bytes.
    pub fn new(file: LeaveDocumentFile) -> StoreResult<Self> {
        file.check_size()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Self {
            id: file.document.id.as_str().to_owned(),
            request: file.document.request.as_str().to_owned(),
            data: to_json(&file.document)?,
            content: file.bytes,
        })
    }

    /// Whether the request, holding `held` documents, has room for one more under
    /// `max_per_request`; else the [`StoreError::Conflict`] to answer.
    pub fn check_room(&self, held: u64, max_per_request: u32) -> StoreResult<()> {
        if held < u64::from(max_per_request) {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "leave request {} holds {held} documents, the most allowed",
                self.request
            )))
        }
    }

    /// The insert of this row (it takes the bytes).
    pub fn into_insert(self) -> InsertStatement {
        stmt::insert_leave_document(&self.id, &self.request, self.data, self.content)
    }
}

/// A stored document back from its `data` and `content` columns; [`StoreError::Backend`] if
/// the metadata does not decode or its size is not the bytes'.
pub fn decode_file(data: &str, content: Vec<u8>) -> StoreResult<LeaveDocumentFile> {
    let document: LeaveDocument = from_json("leave document", data)?;
    let file = LeaveDocumentFile {
        document,
        bytes: content,
    };
    match file.check_size() {
        Ok(()) => Ok(file),
        Err(e) => Err(StoreError::Backend {
            message: "a stored leave document does not validate".into(),
            source: Some(Box::new(e)),
        }),
    }
}

/// [`StoreError::NotFound`] for a request that does not exist.
pub fn request_not_found(request: &str) -> StoreError {
    StoreError::NotFound {
        entity: "leave request",
        key: request.to_owned(),
    }
}

/// [`StoreError::NotFound`] for a document `id` that `request` does not have.
pub fn document_not_found(request: &LeaveRequestId, id: &LeaveDocumentId) -> StoreError {
    StoreError::NotFound {
        entity: "leave document",
        key: format!("{request}/{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn file(size: u64, bytes: Vec<u8>) -> LeaveDocumentFile {
        LeaveDocumentFile {
            document: LeaveDocument {
                id: LeaveDocumentId::parse("D1").unwrap_or_else(|_| unreachable!()),
                request: LeaveRequestId::parse("L1").unwrap_or_else(|_| unreachable!()),
                filename: "a.pdf".into(),
                content_type: "application/pdf".into(),
                size,
                uploaded_by: "worker".into(),
                uploaded_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            bytes,
        }
    }

    #[test]
    fn rows_round_trip_and_keep_to_the_limit() {
        let original = file(3, vec![0, 0xFF, 7]);
        let row = DocumentRow::new(original.clone()).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((row.id.as_str(), row.request.as_str()), ("D1", "L1"));
        let back =
            decode_file(&row.data, row.content.clone()).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(back, original);
        assert!(row.check_room(2, 3).is_ok());
        assert!(matches!(row.check_room(3, 3), Err(StoreError::Conflict(_))));
        assert!(matches!(row.check_room(0, 0), Err(StoreError::Conflict(_))));
        assert!(matches!(
            DocumentRow::new(file(4, vec![1])),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            decode_file(&row.data, vec![1]),
            Err(StoreError::Backend { .. })
        ));
    }
}
