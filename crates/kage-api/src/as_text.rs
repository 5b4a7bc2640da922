//! Serde for values written as their text form and parsed back (kage-core's types carry no
//! serde): `#[serde(with = "crate::as_text")]`.

use serde::{Deserialize, Deserializer, Serializer, de::Error};

/// Writes `value` as its text.
pub fn serialize<T: std::fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Parses text into `T`.
pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
    D: Deserializer<'de>,
{
    String::deserialize(deserializer)?
        .parse()
        .map_err(D::Error::custom)
}
