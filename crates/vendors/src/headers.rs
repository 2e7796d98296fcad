//! Request headers, without tying vendors to an HTTP library.

use std::collections::BTreeMap;

/// Case-insensitive request headers. Values that are not valid UTF-8 are left out: no vendor
/// sends a header Aurora reads in another encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(BTreeMap<String, String>);

impl Headers {
    /// Builds the set from name/value pairs; a later pair with the same name wins.
    pub fn from_pairs<N: AsRef<str>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name.as_ref().to_ascii_lowercase(), value.into()))
                .collect(),
        )
    }

    /// The value of a header, by any capitalization of its name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}
