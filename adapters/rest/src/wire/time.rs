//! Instants on the wire: RFC 3339 in, checked to years 1 to 9999 in UTC as the domain keeps
//! them (`todo_model::parse_instant`); RFC 3339 in UTC out.

use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use todo_ports::model::parse_instant;

/// Reads an RFC 3339 string as an instant the domain accepts.
///
/// # Errors
/// A message naming what is wrong, which the body parser reports with the field's path.
pub fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let raw = String::deserialize(d)?;
    parse_instant("", &raw).map_err(|e| serde::de::Error::custom(e.message))
}

/// [`instant`] for a field that may be `null` (`Some(None)`) or absent (`None`, with
/// `#[serde(default)]`).
pub(crate) fn nullable_instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    raw.map(|raw| parse_instant("", &raw).map_err(|e| serde::de::Error::custom(e.message))).transpose().map(Some)
}

/// [`instant`] for a field that may be absent or `null` (both `None`).
pub(crate) fn optional_instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OffsetDateTime>, D::Error> {
    nullable_instant(d).map(Option::flatten)
}

/// A value that may be `null` (`Some(None)`) or absent (`None`, with `#[serde(default)]`).
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A value that must not be `null` when present (absent is `None`, with `#[serde(default)]`).
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
