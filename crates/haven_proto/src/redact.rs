use core::fmt;

use serde::{Deserialize, Serialize};

/// A value that may carry patient data or a secret: its `Debug` and `Display` print
/// `[redacted]`, so it can never reach a log line, a panic message or an error by accident.
///
/// Serialization is transparent: on the wire it is the inner value. Read it with
/// [`Redacted::expose`], which makes every use visible in review.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The inner value. Never pass it to a log macro.
    pub const fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the inner value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Redacted::new(String::from("Jane Doe, MRN 12345"));
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
        assert_eq!(secret.expose(), "Jane Doe, MRN 12345");
    }

    #[test]
    fn serializes_as_the_inner_value() {
        let json = serde_json::to_string(&Redacted::new("x")).expect("a str serializes");
        assert_eq!(json, "\"x\"");
    }
}
