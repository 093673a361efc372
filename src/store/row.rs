//! Result rows read by column name, whichever driver returned them: sqlx's (every read, and PostgreSQL's
//! commits) or rusqlite's (SQLite's shared commits, [`super::append`]).

use super::{StoreError, StoreResult};
use rusqlite::types::Value;
use sqlx::any::AnyRow;
use std::sync::Arc;

/// A row's columns, by name.
pub(crate) trait Columns {
    /// Text column `name`; `None` when NULL.
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>>;

    /// Integer column `name`; `None` when NULL.
    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>>;

    /// Text column `name`, which must not be NULL.
    fn text(&self, name: &str) -> StoreResult<String> {
        self.opt_text(name)?.ok_or_else(|| null(name))
    }

    /// Integer column `name`, which must not be NULL.
    fn int(&self, name: &str) -> StoreResult<i64> {
        self.opt_int(name)?.ok_or_else(|| null(name))
    }
}

fn null(name: &str) -> StoreError {
    StoreError::Corrupt(format!("{name} is NULL"))
}

impl Columns for AnyRow {
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(sqlx::Row::try_get(self, name)?)
    }

    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        Ok(sqlx::Row::try_get(self, name)?)
    }
}

/// A row of a statement run by rusqlite: its values, and the statement's column names (shared by its rows).
#[derive(Debug)]
pub(crate) struct SqliteRow {
    /// The statement's column names, in order.
    pub(crate) names: Arc<[String]>,
    /// This row's values, in the same order.
    pub(crate) values: Vec<Value>,
}

impl SqliteRow {
    fn value(&self, name: &str) -> StoreResult<&Value> {
        let at = self.names.iter().position(|n| n == name);
        at.and_then(|at| self.values.get(at)).ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))
    }
}

impl Columns for SqliteRow {
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        match self.value(name)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            other => Err(StoreError::Corrupt(format!("{name}: text expected, found {:?}", other.data_type()))),
        }
    }

    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        match self.value(name)? {
            Value::Null => Ok(None),
            Value::Integer(int) => Ok(Some(*int)),
            other => Err(StoreError::Corrupt(format!("{name}: integer expected, found {:?}", other.data_type()))),
        }
    }
}

/// A row from either driver.
pub(crate) enum Row {
    /// Read through sqlx.
    Any(AnyRow),
    /// Read on SQLite's writer thread.
    Sqlite(SqliteRow),
}

impl Columns for Row {
    fn opt_text(&self, name: &str) -> StoreResult<Option<String>> {
        match self {
            Self::Any(row) => row.opt_text(name),
            Self::Sqlite(row) => row.opt_text(name),
        }
    }

    fn opt_int(&self, name: &str) -> StoreResult<Option<i64>> {
        match self {
            Self::Any(row) => row.opt_int(name),
            Self::Sqlite(row) => row.opt_int(name),
        }
    }
}
