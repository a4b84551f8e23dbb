use thiserror::Error;

/// Why a pod cannot be planned as a jail, or a lease not taken.
#[derive(Debug, Error)]
pub enum Error {
    /// A jail parameter name that jail(2) does not know, or one the plan owns.
    #[error("jail parameter {name:?} ({origin}): {reason}")]
    Param {
        name: String,
        origin: String,
        reason: String,
    },
    /// A value that jail(8) or jail_set(2) would read differently or refuse.
    #[error("jail parameter {name} = {value:?} ({origin}): {reason}")]
    Value {
        name: String,
        value: String,
        origin: String,
        reason: String,
    },
    /// A path or name that cannot be written into jail.conf or fstab as it is.
    #[error("{what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("subnet {subnet} has no free address for a pod")]
    SubnetFull { subnet: String },
    #[error(transparent)]
    Io(#[from] jetpack_fs::IoError),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(what: &'static str, value: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        what,
        value: value.to_string(),
        reason: reason.into(),
    }
}
