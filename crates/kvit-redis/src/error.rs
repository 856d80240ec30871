//! What a failed connection attempt says, and how a URL is shown without its
//! password.

use std::fmt;

/// A connection to the server could not be made: names the server (without
/// its password) and chains the driver's error.
#[derive(Debug)]
pub(crate) struct ConnectError {
    /// The server's URL with any password hidden.
    pub(crate) address: String,
    /// The driver's error.
    pub(crate) source: redis::RedisError,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: {}", self.address, self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Fewer replicas than required confirmed a write in time.
#[derive(Debug)]
pub(crate) struct ReplicationError {
    pub(crate) acknowledged: usize,
    pub(crate) required: usize,
    pub(crate) timeout: std::time::Duration,
}

impl fmt::Display for ReplicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "only {} of the {} required replicas confirmed the write within {:?}; it is applied \
             on the primary and may not survive a failover",
            self.acknowledged, self.required, self.timeout
        )
    }
}

impl std::error::Error for ReplicationError {}

/// The URL as it may be shown in messages: the user name is kept, a password
/// is replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The credentials end at the last '@' of the authority; a password that
    // was not percent-encoded may itself hold '/' or '@', so look for the
    // last '@' in the whole remainder rather than stopping at the first '/'.
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    let (credentials, host) = (&rest[..at], &rest[at + 1..]);
    let credentials = match credentials.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => credentials.to_owned(),
    };
    format!("{scheme}://{credentials}@{host}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://:s3cret@host:6379/2"),
            "redis://:***@host:6379/2"
        );
        assert_eq!(
            redact("rediss://alice:pa/ss@word@host/0"),
            "rediss://alice:***@host/0"
        );
        assert_eq!(redact("redis://alice@host"), "redis://alice@host");
        assert_eq!(redact("not a url"), "not a url");
    }
}
