/// What was wrong with an OCI reference or document, and where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image reference {reference:?}: {msg}")]
    Reference { reference: String, msg: String },
    #[error("{what}: {msg}")]
    Document { what: String, msg: String },
    #[error(
        "{what}: Docker manifest schema 1 is not supported (it is deprecated and unsigned); \
         push the image again with a current Docker, podman or skopeo, which write schema 2"
    )]
    SchemaOne { what: String },
    #[error("{what}: no image for {wanted}; the image has: {available}")]
    NoPlatform {
        what: String,
        wanted: String,
        available: String,
    },
    #[error("image configuration: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;
