//! Branch heads: the only mutable state, each one backend key moved by `cas`.

use std::fmt;
use std::str::FromStr;

use crate::backend::KvStore;
use crate::error::{Error, Result};
use crate::object::ObjectId;

/// The backend key prefix of branch heads.
pub(crate) const HEADS_PREFIX: &str = "refs/heads/";

/// The longest branch name accepted, in bytes.
pub const MAX_BRANCH_NAME_LEN: usize = 200;

/// A validated branch name, following git's `check-ref-format` rules: not
/// empty, no `..`, `@{`, `//`, control characters, spaces or any of
/// `~ ^ : ? * [ \`, no leading `-`, no `/` at either end, no component
/// starting with `.` or ending with `.lock`, not `@`, not ending with `.`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchName(String);

impl BranchName {
    /// Validates `name`.
    ///
    /// # Errors
    /// [`Error::InvalidBranchName`] saying which rule it breaks.
    pub fn new(name: &str) -> Result<Self> {
        let fail = |reason: &'static str| {
            Err(Error::InvalidBranchName {
                name: name.to_owned(),
                reason,
            })
        };
        if name.is_empty() {
            return fail("it is empty");
        }
        if name.len() > MAX_BRANCH_NAME_LEN {
            return fail("it is longer than 200 bytes");
        }
        if name == "@" {
            return fail("\"@\" alone is reserved");
        }
        if name.starts_with('-') {
            return fail("it starts with '-'");
        }
        if name.starts_with('/') || name.ends_with('/') {
            return fail("it starts or ends with '/'");
        }
        if name.ends_with('.') {
            return fail("it ends with '.'");
        }
        if name.contains("..") {
            return fail("it contains '..'");
        }
        if name.contains("@{") {
            return fail("it contains '@{'");
        }
        if name.contains("//") {
            return fail("it contains an empty path component");
        }
        if name
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '\u{7f}')
        {
            return fail("it contains a space or a control character");
        }
        if name
            .chars()
            .any(|c| matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\'))
        {
            return fail("it contains one of ~ ^ : ? * [ \\");
        }
        if name
            .split('/')
            .any(|part| part.starts_with('.') || part.to_ascii_lowercase().ends_with(".lock"))
        {
            return fail("a component starts with '.' or ends with '.lock'");
        }
        Ok(BranchName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn ref_key(&self) -> String {
        let mut key = String::with_capacity(HEADS_PREFIX.len() + self.0.len());
        key.push_str(HEADS_PREFIX);
        key.push_str(&self.0);
        key
    }
}

impl FromStr for BranchName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        BranchName::new(name)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BranchName({:?})", self.0)
    }
}

/// What a head must hold for a compare-and-swap to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// The branch must not exist yet.
    Absent,
    /// The head must be this commit.
    At(ObjectId),
}

pub(crate) fn parse_head(branch: &BranchName, bytes: &[u8]) -> Result<ObjectId> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::CorruptRef {
            branch: branch.to_string(),
            found: String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned(),
        })
}

/// The head of `branch`, if the branch exists.
///
/// # Errors
/// A backend failure, or a head that does not hold a commit id.
pub(crate) fn read_head(kv: &dyn KvStore, branch: &BranchName) -> Result<Option<ObjectId>> {
    kv.get(&branch.ref_key())?
        .map(|bytes| parse_head(branch, &bytes))
        .transpose()
}

/// Moves `branch` to `new` if it is as `expected`; returns whether it moved.
///
/// # Errors
/// A backend failure.
pub(crate) fn swap_head(
    kv: &dyn KvStore,
    branch: &BranchName,
    expected: Expected,
    new: ObjectId,
) -> Result<bool> {
    let new_text = new.hex_digits();
    match expected {
        Expected::Absent => kv.cas(&branch.ref_key(), &new_text, None),
        Expected::At(old) => kv.cas(&branch.ref_key(), &new_text, Some(&old.hex_digits())),
    }
}

/// Every branch with its head, sorted by name.
///
/// # Errors
/// A backend failure, or a head that does not hold a commit id.
pub(crate) fn list_heads(kv: &dyn KvStore) -> Result<Vec<(BranchName, ObjectId)>> {
    let mut heads = Vec::new();
    for (key, value) in kv.scan_prefix(HEADS_PREFIX)? {
        let name = key.get(HEADS_PREFIX.len()..).unwrap_or_default();
        // A key another tool wrote that is not a valid name is not a branch.
        let Ok(branch) = BranchName::new(name) else {
            continue;
        };
        let head = parse_head(&branch, &value)?;
        heads.push((branch, head));
    }
    heads.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "main",
            "dev",
            "feature/x",
            "a.b",
            "日本",
            "v1.2-rc",
            "user@host",
        ] {
            BranchName::new(name).unwrap();
        }
    }

    #[test]
    fn refuses_what_git_refuses() {
        for name in [
            "",
            "-x",
            "/a",
            "a/",
            "a..b",
            "a//b",
            "a b",
            "a\tb",
            "a\0b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            ".hidden",
            "a/.b",
            "x.lock",
            "a/x.lock/b",
            "a.",
            "@",
            "a@{1}",
            "\u{7f}",
        ] {
            assert!(BranchName::new(name).is_err(), "{name:?} accepted");
        }
        let long = "a".repeat(MAX_BRANCH_NAME_LEN + 1);
        assert!(BranchName::new(&long).is_err());
    }
}
