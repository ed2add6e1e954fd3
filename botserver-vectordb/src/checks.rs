//! What every vector store refuses before writing anything, and the normalisation they all
//! apply, in one place so the stores cannot drift apart: collection names and dimensions,
//! points of the wrong size, non-finite values, empty or oversize ids.

use botlib::{AppError, AppResult};
use botstate::services::VectorPoint;

/// A collection name of 1 to 1024 bytes with 1 to `max_dims` dimensions.
pub fn check_collection(name: &str, dims: usize, max_dims: usize) -> AppResult<()> {
    if dims == 0 || dims > max_dims {
        return Err(AppError::bad_request(format!(
            "a collection has 1 to {max_dims} dimensions"
        )));
    }
    if name.is_empty() || name.len() > 1024 {
        return Err(AppError::bad_request("a collection name has 1 to 1024 bytes"));
    }
    Ok(())
}

/// A point for `collection` (of `dims` dimensions): the right size, finite values, an id
/// of 1 to 65535 bytes.
pub fn check_point(collection: &str, p: &VectorPoint, dims: usize) -> AppResult<()> {
    if p.vector.len() != dims {
        return Err(AppError::bad_request(format!(
            "point {} has {} dimensions; collection {collection} has {dims}",
            p.id,
            p.vector.len()
        )));
    }
    if p.vector.iter().any(|x| !x.is_finite()) {
        return Err(AppError::bad_request(format!(
            "point {} has a non-finite value",
            p.id
        )));
    }
    if p.id.is_empty() || p.id.len() > u16::MAX as usize {
        return Err(AppError::bad_request("a point id has 1 to 65535 bytes"));
    }
    Ok(())
}

/// An existing collection of another size.
pub fn dims_conflict(name: &str, have: usize, want: usize) -> AppError {
    AppError::Conflict(format!("collection {name} has {have} dimensions, not {want}"))
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
