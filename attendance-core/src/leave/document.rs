//! Documents attached to a leave request (a medical certificate, a letter), as the store keeps
//! them: [`LeaveDocument`] is what is listed, [`LeaveDocumentFile`] carries the bytes as well.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::LeaveRequestId;
use crate::error::ValidationError;
use crate::text::{id_chars, text_newtype};

text_newtype!(
    /// A leave document's id, given by whoever stores it (a UUID, a sequence number); unique
    /// among every request's documents.
    LeaveDocumentId,
    "document_id",
    64,
    id_chars
);

/// A document attached to a leave request, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveDocument {
    /// The document's id.
    pub id: LeaveDocumentId,
    /// The request it is attached to.
    pub request: LeaveRequestId,
    /// The file name given at upload.
    pub filename: String,
    /// Its media type (`application/pdf`, `image/png`, …).
    pub content_type: String,
    /// Its size in bytes: the length of its bytes.
    pub size: u64,
    /// Who attached it (a username).
    pub uploaded_by: String,
    /// When it was attached.
    pub uploaded_at: DateTime<Utc>,
}

/// A document with its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct LeaveDocumentFile {
    /// What the document is.
    pub document: LeaveDocument,
    /// The file's bytes, exactly as uploaded.
    pub bytes: Vec<u8>,
}

impl LeaveDocumentFile {
    /// Checks that `document.size` is the length of `bytes`, as a store requires before storing
    /// the file; a [`ValidationError`] naming both when it is not.
    pub fn check_size(&self) -> Result<(), ValidationError> {
        if u64::try_from(self.bytes.len()).is_ok_and(|len| len == self.document.size) {
            Ok(())
        } else {
            Err(ValidationError::Invalid {
                field: "size",
                reason: "must be the number of bytes of the file",
                value: format!(
                    "{} for document {} of {} bytes",
                    self.document.size,
                    self.document.id,
                    self.bytes.len()
                ),
            })
        }
    }
}

impl std::fmt::Debug for LeaveDocumentFile {
    /// The document and the number of bytes, not the bytes (they may be megabytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaveDocumentFile")
            .field("document", &self.document)
            .field("bytes", &format_args!("{} bytes", self.bytes.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_ascii_and_sizes_must_match_the_bytes() {
        assert!(LeaveDocumentId::parse("0195f3a2-7c41-7b1e-9a55-2d1f0e3b4c5d").is_ok());
        for bad in ["", "a/b", "doc 1", "ü", &"x".repeat(65)] {
            assert!(LeaveDocumentId::parse(bad).is_err(), "{bad:?}");
        }
        let mut file = LeaveDocumentFile {
            document: LeaveDocument {
                id: LeaveDocumentId::parse("D1").unwrap_or_else(|_| unreachable!()),
                request: LeaveRequestId::parse("L1").unwrap_or_else(|_| unreachable!()),
                filename: "certificate.pdf".into(),
                content_type: "application/pdf".into(),
                size: 3,
                uploaded_by: "worker".into(),
                uploaded_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            bytes: vec![0, 1, 2],
        };
        assert!(file.check_size().is_ok());
        assert!(
            format!("{file:?}").contains("3 bytes"),
            "the bytes are summarised"
        );
        file.bytes.push(3);
        let refused = file.check_size().map_err(|e| e.to_string());
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("3 for document D1 of 4 bytes")),
            "{refused:?}"
        );
    }
}
