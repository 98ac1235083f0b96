//! Reading one variable: required, optional, or parsed, with any error naming the variable.
//! An empty value counts as unset throughout, as a template parameter left empty is.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use super::ConfigError;

/// A variable that must be set and non-empty.
pub fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    optional(lookup, name).ok_or(ConfigError::Missing(name))
}

/// A variable's value, with an empty value counted as unset.
pub fn optional(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

/// A variable parsed as `T`, or `None` when unset.
pub fn optional_parse<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    optional(lookup, name).map(|value| parse_value(name, &value)).transpose()
}

/// A variable parsed as `T`, or `default` when unset.
pub fn parse_or<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(optional_parse(lookup, name)?.unwrap_or(default))
}

/// A number within `range`, or `default` when unset.
pub fn parse_in<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: RangeInclusive<T>,
    default: T,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Display,
    T::Err: Display,
{
    within(name, range, parse_or(lookup, name, default)?)
}

/// `value`, trimmed, parsed as `T`; the error names `name`.
pub(super) fn parse_value<T>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    value.trim().parse().map_err(|error| ConfigError::invalid(name, error))
}

/// `value` when it lies within `range`; otherwise an error naming `name` and the bounds.
pub(super) fn within<T>(
    name: &'static str,
    range: RangeInclusive<T>,
    value: T,
) -> Result<T, ConfigError>
where
    T: PartialOrd + Display,
{
    if range.contains(&value) {
        Ok(value)
    } else {
        let (low, high) = range.into_inner();
        Err(ConfigError::invalid(name, format!("must be between {low} and {high}")))
    }
}
