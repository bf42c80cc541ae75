//! Background recompute jobs. Every select returns `id, data`.

use sea_query::{Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement, UpdateStatement};

use crate::schema::RecomputeJobs;

fn select_jobs() -> SelectStatement {
    Query::select()
        .columns([RecomputeJobs::Id, RecomputeJobs::Data])
        .from(RecomputeJobs::Table)
        .to_owned()
}

/// The queued job (at most one).
pub fn select_queued_job() -> SelectStatement {
    select_jobs()
        .and_where(Expr::col(RecomputeJobs::Queued).eq(1))
        .to_owned()
}

/// The unfinished job of the smallest id.
pub fn select_next_open_job() -> SelectStatement {
    select_jobs()
        .and_where(Expr::col(RecomputeJobs::Open).eq(1))
        .order_by(RecomputeJobs::Id, Order::Asc)
        .limit(1)
        .to_owned()
}

/// Job `id` if it is unfinished.
pub fn select_open_job(id: i64) -> SelectStatement {
    select_jobs()
        .and_where(Expr::col(RecomputeJobs::Id).eq(id))
        .and_where(Expr::col(RecomputeJobs::Open).eq(1))
        .to_owned()
}

/// The started, unfinished job of the smallest id.
pub fn select_running_job() -> SelectStatement {
    select_jobs()
        .and_where(Expr::col(RecomputeJobs::Open).eq(1))
        .and_where(Expr::col(RecomputeJobs::Queued).is_null())
        .order_by(RecomputeJobs::Id, Order::Asc)
        .limit(1)
        .to_owned()
}

/// The job of the largest id.
pub fn select_newest_job() -> SelectStatement {
    select_jobs()
        .order_by(RecomputeJobs::Id, Order::Desc)
        .limit(1)
        .to_owned()
}

/// Inserts a queued job, returning its new `id`.
pub fn insert_queued_job(data: String) -> InsertStatement {
    Query::insert()
        .into_table(RecomputeJobs::Table)
        .columns([
            RecomputeJobs::Queued,
            RecomputeJobs::Open,
            RecomputeJobs::Data,
        ])
        .values_panic([Expr::value(1), Expr::value(1), Expr::value(data)])
        .returning_col(RecomputeJobs::Id)
        .to_owned()
}

/// Replaces job `id`'s flags (1 or NULL) and JSON.
pub fn update_job(id: i64, queued: bool, open: bool, data: String) -> UpdateStatement {
    let flag = |on: bool| Expr::value(on.then_some(1_i32));
    Query::update()
        .table(RecomputeJobs::Table)
        .value(RecomputeJobs::Queued, flag(queued))
        .value(RecomputeJobs::Open, flag(open))
        .value(RecomputeJobs::Data, Expr::value(data))
        .and_where(Expr::col(RecomputeJobs::Id).eq(id))
        .to_owned()
}
