//! Migration 6: every stored leave policy states its approval chain (`approval`: `head_then_hr`,
//! `hr_only` or `head_only`). The chain lives in the policy's JSON with its other rules; policies
//! stored before it existed are given `head_then_hr`, the chain they were applied with, so the
//! stored documents say what the rules do without relying on the decoder's default.

use super::{Backend, SchemaStatement};

/// Migration 6's statements: one update of the policies that have no `approval` yet.
pub(super) fn leave_approval(backend: Backend) -> Vec<SchemaStatement> {
    vec![SchemaStatement::Sql(match backend {
        Backend::Sqlite => {
            r#"UPDATE "att_leave_policies" SET "data" = json_set("data", '$.approval', 'head_then_hr') WHERE json_extract("data", '$.approval') IS NULL"#
        }
        Backend::Postgres => {
            r#"UPDATE "att_leave_policies" SET "data" = jsonb_set("data"::jsonb, '{approval}', '"head_then_hr"')::text WHERE ("data"::jsonb -> 'approval') IS NULL"#
        }
    })]
}
