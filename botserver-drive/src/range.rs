//! `Range: bytes=…` (RFC 9110 §14): one range, `a-b`, `a-` or the last `-n` bytes. A
//! header that is not a single byte range is ignored (the whole file is sent, as the RFC
//! allows); a range that starts past the end is 416.

use botlib::{AppError, AppResult};

/// The inclusive byte range to send of a file of `size` bytes, or `None` for all of it.
pub fn parse(header: Option<&str>, size: u64) -> AppResult<Option<(u64, u64)>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = AppError::RangeNotSatisfiable { size };
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => {
            if start >= size {
                return Err(unsatisfiable);
            }
            Ok(Some((start, end.min(size - 1))))
        }
        (Ok(start), Err(_)) if b.is_empty() => {
            if start >= size {
                return Err(unsatisfiable);
            }
            Ok(Some((start, size - 1)))
        }
        (Err(_), Ok(n)) if a.is_empty() => {
            if n == 0 || size == 0 {
                return Err(unsatisfiable);
            }
            Ok(Some((size.saturating_sub(n), size - 1)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn single_ranges() {
        assert_eq!(parse(None, 10).unwrap(), None);
        assert_eq!(parse(Some("bytes=0-0"), 10).unwrap(), Some((0, 0)));
        assert_eq!(parse(Some("bytes=2-5"), 10).unwrap(), Some((2, 5)));
        assert_eq!(parse(Some("bytes=4-"), 10).unwrap(), Some((4, 9)));
        assert_eq!(parse(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(parse(Some("bytes=-30"), 10).unwrap(), Some((0, 9)));
        assert_eq!(parse(Some("bytes=5-100"), 10).unwrap(), Some((5, 9)));
        assert_eq!(parse(Some("bytes=0-1,4-5"), 10).unwrap(), None);
        assert_eq!(parse(Some("items=0-1"), 10).unwrap(), None);
        assert_eq!(parse(Some("bytes=5-2"), 10).unwrap(), None);
        for bad in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
            assert_eq!(parse(Some(bad), 10).unwrap_err().status(), 416, "{bad}");
        }
    }
}
