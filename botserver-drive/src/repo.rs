//! The drive's tables: `drive_files` (the index of every file in a space: what quotas
//! count and name search reads), `drive_quotas` (quotas set by administrators),
//! `drive_trash` (deleted files kept for restoring) and `drive_shares` (share links).
//! Plain synchronous functions over `&mut AnyConnection`; writers run inside `Db::write`.

use botstate::{AnyConnection, DbErr};
use diesel::prelude::*;
use serde::Serialize;

diesel::table! {
    drive_files (space, path) {
        space -> Text,
        path -> Text,
        size -> BigInt,
        etag -> Text,
        content_type -> Nullable<Text>,
        modified_ms -> BigInt,
    }
}

diesel::table! {
    drive_quotas (space) {
        space -> Text,
        quota_bytes -> BigInt,
    }
}

diesel::table! {
    drive_trash (id) {
        id -> Text,
        space -> Text,
        path -> Text,
        object_key -> Text,
        size -> BigInt,
        content_type -> Nullable<Text>,
        deleted_ms -> BigInt,
        deleted_by -> Text,
    }
}

diesel::table! {
    drive_shares (id) {
        id -> Text,
        space -> Text,
        path -> Text,
        created_by -> Text,
        created_ms -> BigInt,
        expires_ms -> BigInt,
        revoked_ms -> Nullable<BigInt>,
    }
}

use drive_files as df;
use drive_shares as ds;
use drive_trash as dt;

/// One file of a space.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = drive_files, treat_none_as_null = true)]
pub struct FileRow {
    pub space: String,
    pub path: String,
    pub size: i64,
    pub etag: String,
    pub content_type: Option<String>,
    pub modified_ms: i64,
}

/// One deleted file.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = drive_trash)]
pub struct TrashRow {
    pub id: String,
    pub space: String,
    /// Where it was.
    pub path: String,
    /// Where its bytes are now (`trash/<id>`).
    pub object_key: String,
    pub size: i64,
    pub content_type: Option<String>,
    pub deleted_ms: i64,
    /// The user who deleted it.
    pub deleted_by: String,
}

/// One share link.
#[derive(Clone, Debug, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = drive_shares)]
pub struct ShareRow {
    pub id: String,
    pub space: String,
    pub path: String,
    pub created_by: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// Records a file written (insert or replace).
pub fn save_file(c: &mut AnyConnection, row: &FileRow) -> Result<(), DbErr> {
    let n = diesel::update(df::table.find((&row.space, &row.path)))
        .set(row)
        .execute(c)?;
    if n == 0 {
        diesel::insert_into(df::table).values(row).execute(c)?;
    }
    Ok(())
}

/// Forgets a file.
pub fn delete_file(c: &mut AnyConnection, space: &str, path: &str) -> Result<bool, DbErr> {
    Ok(diesel::delete(df::table.find((space, path))).execute(c)? > 0)
}

/// One file's row.
pub fn file(c: &mut AnyConnection, space: &str, path: &str) -> Result<Option<FileRow>, DbErr> {
    Ok(df::table
        .find((space, path))
        .select(FileRow::as_select())
        .first(c)
        .optional()?)
}

/// Bytes a space uses: its files and its trash.
pub fn used_bytes(c: &mut AnyConnection, space: &str) -> Result<(i64, i64), DbErr> {
    // `SUM`'s type differs by backend (numeric on PostgreSQL): cast it to one.
    let total = || diesel::dsl::sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(size), 0) AS BIGINT)");
    let files: i64 = df::table.filter(df::space.eq(space)).select(total()).first(c)?;
    let trash: i64 = dt::table.filter(dt::space.eq(space)).select(total()).first(c)?;
    Ok((files, trash))
}

/// The quota an administrator set for a space.
pub fn quota(c: &mut AnyConnection, space: &str) -> Result<Option<i64>, DbErr> {
    Ok(drive_quotas::table
        .find(space)
        .select(drive_quotas::quota_bytes)
        .first(c)
        .optional()?)
}

/// Sets a space's quota.
pub fn set_quota(c: &mut AnyConnection, space: &str, bytes: i64) -> Result<(), DbErr> {
    let n = diesel::update(drive_quotas::table.find(space))
        .set(drive_quotas::quota_bytes.eq(bytes))
        .execute(c)?;
    if n == 0 {
        diesel::insert_into(drive_quotas::table)
            .values((drive_quotas::space.eq(space), drive_quotas::quota_bytes.eq(bytes)))
            .execute(c)?;
    }
    Ok(())
}

/// Files of a space whose name contains `needle` (case-insensitive on ASCII), by path.
pub fn search(c: &mut AnyConnection, space: &str, needle: &str, limit: i64) -> Result<Vec<FileRow>, DbErr> {
    let escaped: String = needle
        .to_lowercase()
        .chars()
        .flat_map(|ch| match ch {
            '%' | '_' | '\\' => vec!['\\', ch],
            other => vec![other],
        })
        .collect();
    Ok(df::table
        .filter(df::space.eq(space))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(path) LIKE ")
                .bind::<diesel::sql_types::Text, _>(format!("%{escaped}%"))
                .sql(" ESCAPE '\\'"),
        )
        .order(df::path.asc())
        .limit(limit)
        .select(FileRow::as_select())
        .load(c)?)
}

/// Puts a deleted file in the trash.
pub fn add_trash(c: &mut AnyConnection, row: &TrashRow) -> Result<(), DbErr> {
    diesel::insert_into(dt::table).values(row).execute(c)?;
    Ok(())
}

/// A space's trash, newest first.
pub fn trash(c: &mut AnyConnection, space: &str) -> Result<Vec<TrashRow>, DbErr> {
    Ok(dt::table
        .filter(dt::space.eq(space))
        .order(dt::deleted_ms.desc())
        .limit(1000)
        .select(TrashRow::as_select())
        .load(c)?)
}

/// One trash entry of a space.
pub fn trash_entry(c: &mut AnyConnection, space: &str, id: &str) -> Result<Option<TrashRow>, DbErr> {
    Ok(dt::table
        .filter(dt::space.eq(space).and(dt::id.eq(id)))
        .select(TrashRow::as_select())
        .first(c)
        .optional()?)
}

/// Removes a trash entry; `true` when this call removed it (so one caller acts on it).
pub fn remove_trash(c: &mut AnyConnection, id: &str) -> Result<bool, DbErr> {
    Ok(diesel::delete(dt::table.find(id)).execute(c)? > 0)
}

/// Trash entries deleted before `before_ms` (any space), oldest first.
pub fn expired_trash(c: &mut AnyConnection, before_ms: i64, limit: i64) -> Result<Vec<TrashRow>, DbErr> {
    Ok(dt::table
        .filter(dt::deleted_ms.lt(before_ms))
        .order(dt::deleted_ms.asc())
        .limit(limit)
        .select(TrashRow::as_select())
        .load(c)?)
}

/// Records a share link.
pub fn add_share(c: &mut AnyConnection, row: &ShareRow) -> Result<(), DbErr> {
    diesel::insert_into(ds::table).values(row).execute(c)?;
    Ok(())
}

/// One share link.
pub fn share(c: &mut AnyConnection, id: &str) -> Result<Option<ShareRow>, DbErr> {
    Ok(ds::table
        .find(id)
        .select(ShareRow::as_select())
        .first(c)
        .optional()?)
}

/// A space's share links, newest first.
pub fn shares(c: &mut AnyConnection, space: &str) -> Result<Vec<ShareRow>, DbErr> {
    Ok(ds::table
        .filter(ds::space.eq(space))
        .order(ds::created_ms.desc())
        .limit(1000)
        .select(ShareRow::as_select())
        .load(c)?)
}

/// Revokes a share link of a space; `true` when it existed there.
pub fn revoke_share(c: &mut AnyConnection, space: &str, id: &str, now_ms: i64) -> Result<bool, DbErr> {
    Ok(
        diesel::update(ds::table.filter(ds::space.eq(space).and(ds::id.eq(id))))
            .set(ds::revoked_ms.eq(Some(now_ms)))
            .execute(c)?
            > 0,
    )
}
