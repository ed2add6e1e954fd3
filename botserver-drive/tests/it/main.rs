//! Integration tests of the drive.

mod api;
mod stores;
