//! The table a store lives in: its validated name and every statement kvit
//! runs against it.

use std::fmt;

use kvit::{Error, Result};

/// A table name kvit accepts: an SQL identifier it can quote without escaping.
///
/// One to 63 bytes (PostgreSQL's identifier limit; longer names would be
/// silently truncated, so two stores could share a table), ASCII letters,
/// digits and `_`, not starting with a digit. The name is always quoted in
/// SQL, so it is case-sensitive: `Kvit` and `kvit` are two tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

/// PostgreSQL's `NAMEDATALEN - 1`.
const MAX_TABLE_NAME_LEN: usize = 63;

impl TableName {
    /// The default table, `kvit_kv`.
    pub const DEFAULT: &'static str = "kvit_kv";

    /// Checks `name` against the rules above.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the rule `name` breaks.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let problem = if name.is_empty() {
            Some("it is empty")
        } else if name.len() > MAX_TABLE_NAME_LEN {
            Some("it is longer than 63 bytes")
        } else if name.starts_with(|c: char| c.is_ascii_digit()) {
            Some("it starts with a digit")
        } else if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Some("it may hold only ASCII letters, digits and '_'")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::InvalidArgument(format!(
                "invalid PostgreSQL table name {name:?}: {problem}"
            ))),
            None => Ok(Self(name)),
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier. The rules leave nothing to escape.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for TableName {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The statements a connection prepares, each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Query {
    Get,
    Contains,
    Set,
    Remove,
    CasInsert,
    CasUpdate,
    GetMany,
    SetMany,
    RemoveMany,
    KeysBetween,
    KeysFrom,
    ScanBetween,
    ScanFrom,
    Clear,
    RemoveIfUnchanged,
}

impl Query {
    pub(crate) const COUNT: usize = Query::RemoveIfUnchanged as usize + 1;

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The text of every [`Query`] for one table.
#[derive(Debug)]
pub(crate) struct Statements {
    text: [String; Query::COUNT],
}

impl Statements {
    pub(crate) fn for_table(table: &TableName) -> Self {
        let t = table.quoted();
        let text = [
            // Get
            format!("SELECT value FROM {t} WHERE key = $1"),
            // Contains
            format!("SELECT EXISTS (SELECT 1 FROM {t} WHERE key = $1)"),
            // Set
            format!(
                "INSERT INTO {t} (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            // Remove
            format!("DELETE FROM {t} WHERE key = $1"),
            // CasInsert: the key must be absent.
            format!("INSERT INTO {t} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING"),
            // CasUpdate: the key must hold the expected value. Under READ
            // COMMITTED a concurrent update makes this one re-check the
            // condition against the new row, so only one of them matches.
            format!("UPDATE {t} SET value = $2 WHERE key = $1 AND value = $3"),
            // GetMany
            format!("SELECT key, value FROM {t} WHERE key = ANY($1::text[])"),
            // SetMany: keys are unique and sorted by the caller.
            format!(
                "INSERT INTO {t} (key, value) SELECT * FROM unnest($1::text[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            ),
            // RemoveMany
            format!("DELETE FROM {t} WHERE key = ANY($1::text[])"),
            // KeysBetween: a range on the primary key, never LIKE.
            format!("SELECT key FROM {t} WHERE key >= $1 AND key < $2 ORDER BY key"),
            // KeysFrom: a prefix with no upper bound.
            format!("SELECT key FROM {t} WHERE key >= $1 ORDER BY key"),
            // ScanBetween
            format!("SELECT key, value FROM {t} WHERE key >= $1 AND key < $2 ORDER BY key"),
            // ScanFrom
            format!("SELECT key, value FROM {t} WHERE key >= $1 ORDER BY key"),
            // Clear
            format!("DELETE FROM {t}"),
            // RemoveIfUnchanged: pairs sorted by key, so batches lock rows in
            // one order; a row whose value changed since is not matched.
            format!(
                "DELETE FROM {t} WHERE (key, value) IN \
                 (SELECT * FROM unnest($1::text[], $2::bytea[]))"
            ),
        ];
        Self { text }
    }

    pub(crate) fn text(&self, query: Query) -> &str {
        &self.text[query.index()]
    }
}

/// Creates the table if it is missing. Byte order comes from the `C`
/// collation: `ORDER BY key` and the prefix ranges compare UTF-8 bytes, as
/// every other backend does.
pub(crate) fn create_table_sql(table: &TableName) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {} (key TEXT COLLATE \"C\" PRIMARY KEY, value BYTEA NOT NULL)",
        table.quoted()
    )
}

/// The first key of the advisory lock that serialises table creation
/// (`pg_advisory_xact_lock(int4, int4)`); the second is the name's hash.
/// `CREATE TABLE IF NOT EXISTS` alone is not safe against a concurrent
/// creator: the loser can fail on the catalog's unique index.
pub(crate) const CREATE_LOCK_CLASS: i32 = 0x6B76_6974; // "kvit"

/// Columns of the table as `(name, type, collation, not null)`, in order.
pub(crate) const COLUMNS_SQL: &str = "\
    SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
           coalesce(c.collname::text, ''), a.attnotnull \
    FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation \
    WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
    ORDER BY a.attnum";

/// Whether the table's primary key is exactly its first column.
pub(crate) const PRIMARY_KEY_SQL: &str = "\
    SELECT EXISTS (SELECT 1 FROM pg_index i \
                   WHERE i.indrelid = to_regclass($1) AND i.indisprimary \
                     AND i.indnatts = 1 AND i.indkey[0] = 1)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in ["kvit_kv", "_x", "K", "Kvit_2", &"a".repeat(63)] {
            let table = TableName::new(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(table.as_str(), name);
            assert_eq!(table.quoted(), format!("\"{name}\""));
        }
        assert_eq!(TableName::default().as_str(), "kvit_kv");
    }

    #[test]
    fn invalid_names() {
        for (name, problem) in [
            ("", "empty"),
            (&"a".repeat(64), "63 bytes"),
            ("1abc", "digit"),
            ("a-b", "ASCII"),
            ("a b", "ASCII"),
            ("a\"b", "ASCII"),
            ("x;DROP TABLE y", "ASCII"),
            ("tablé", "ASCII"),
            ("schema.table", "ASCII"),
            ("a\0", "ASCII"),
        ] {
            match TableName::new(name) {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains(problem), "{name:?}: {message}");
                }
                other => panic!("{name:?} was accepted: {other:?}"),
            }
        }
    }
}
