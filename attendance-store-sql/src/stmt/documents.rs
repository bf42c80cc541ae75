//! Leave documents, and the count of a request they hang on.

use sea_query::{Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement};

use super::{count_all, text};
use crate::schema::{LeaveDocuments, LeaveRequests};

/// `COUNT(*)` of leave requests with `id` (0 or 1).
pub fn count_leave_request(id: &str) -> SelectStatement {
    count_all(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).eq(id))
        .to_owned()
}

/// `COUNT(*)` of the documents of request `request`.
pub fn count_documents_of(request: &str) -> SelectStatement {
    count_all(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .to_owned()
}

/// Inserts a document (id, request, metadata JSON, bytes).
pub fn insert_leave_document(
    id: &str,
    request: &str,
    data: String,
    content: Vec<u8>,
) -> InsertStatement {
    Query::insert()
        .into_table(LeaveDocuments::Table)
        .columns([
            LeaveDocuments::Id,
            LeaveDocuments::Request,
            LeaveDocuments::Data,
            LeaveDocuments::Content,
        ])
        .values_panic([
            text(id),
            text(request),
            Expr::value(data),
            Expr::value(content),
        ])
        .to_owned()
}

/// The documents of `request` in the order they were attached: `data`.
pub fn select_documents_of(request: &str) -> SelectStatement {
    Query::select()
        .column(LeaveDocuments::Data)
        .from(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .order_by(LeaveDocuments::Seq, Order::Asc)
        .to_owned()
}

/// The document `id` of `request`: `data, content`.
pub fn select_document(request: &str, id: &str) -> SelectStatement {
    Query::select()
        .columns([LeaveDocuments::Data, LeaveDocuments::Content])
        .from(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .and_where(Expr::col(LeaveDocuments::Id).eq(id))
        .to_owned()
}
