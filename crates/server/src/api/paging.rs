//! Cursor paging shared by the list routes: `?limit=` (1–500, 50 by default) and the cursor of
//! the next page (the last item's id when the page is full).

use courier_core::FieldError;

use super::error::ApiError;

/// The page size `?limit=` asks for.
pub fn limit(asked: Option<&str>) -> Result<i64, ApiError> {
    match asked.map(str::parse::<i64>) {
        None => Ok(50),
        Some(Ok(n)) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(
            "/limit",
            "must be an integer from 1 to 500",
        )])),
    }
}

/// The cursor of the page after one of `len` items whose last id is `last`: none when the
/// page was not full.
pub fn next_cursor(len: usize, limit: i64, last: Option<&str>) -> Option<String> {
    (len as i64 == limit)
        .then(|| last.map(str::to_string))
        .flatten()
}
