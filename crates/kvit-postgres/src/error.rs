//! Driver errors, worded so that kvit's one-line messages say what happened.

use std::fmt;

/// A `postgres` error whose message includes its cause: the driver's own
/// message is only its kind ("db error", "error connecting to server") and
/// keeps the server's words in its source.
///
/// The source is the driver's error, so a caller can downcast to
/// [`postgres::Error`] for the SQLSTATE.
#[derive(Debug)]
pub(crate) struct DriverError(pub(crate) postgres::Error);

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_driver_error(&self.0, f)
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<postgres::Error> for DriverError {
    fn from(error: postgres::Error) -> Self {
        Self(error)
    }
}

/// The driver's message, then the server's (severity, message, SQLSTATE,
/// detail, hint) or the underlying I/O error.
pub(crate) fn write_driver_error(
    error: &postgres::Error,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    if let Some(db) = error.as_db_error() {
        write!(
            f,
            "{} {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        )?;
        if let Some(detail) = db.detail() {
            write!(f, "; {detail}")?;
        }
        if let Some(hint) = db.hint() {
            write!(f, "; hint: {hint}")?;
        }
        return Ok(());
    }
    write!(f, "{error}")?;
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        write!(f, ": {inner}")?;
        cause = inner.source();
    }
    Ok(())
}
