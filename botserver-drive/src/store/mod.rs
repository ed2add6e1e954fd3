//! The object stores behind botstate's [`ObjectStore`]: [`LocalStore`] (files under a folder,
//! the default) and, with the `s3` feature, [`S3Store`] (any S3-compatible service: AWS,
//! SeaweedFS, MinIO, Garage). Both take the same keys ([`keys`]), write atomically, stream
//! uploads and downloads without holding objects in memory, and pass the same behaviour
//! suite ([`crate::testing::object_store_suite`]).

pub mod keys;
pub mod local;
#[cfg(feature = "s3")]
pub mod s3;

pub use botstate::services::{ByteStream, ObjectBody, ObjectMeta, ObjectStore};
pub use keys::{check_key, check_prefix, content_type_for};
pub use local::LocalStore;
#[cfg(feature = "s3")]
pub use s3::{S3Options, S3Store};
