//! Resource quantities (`1G`, `250m`, `1.5Gi`…), Kubernetes grammar
//! (digest §1.9).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde_json::{Number, Value};

use crate::error::{Error, Result};
use crate::json::type_name;

const REGEX: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// A resource quantity.
///
/// The exact value is kept in nano-units (values finer than `1n` round up
/// to it, away from zero, as the reference does), so request/limit can be
/// turned into integers in natural units: [`Quantity::value`] (bytes, cores)
/// and [`Quantity::milli_value`] (milli-cores) both round up. The text as
/// written, or the JSON number, is kept for output.
///
/// Only lowercase `k` is a suffix: `1K` is rejected like the reference does.
/// Magnitudes beyond ±1.7e29 units are rejected as too large.
#[derive(Debug, Clone)]
pub struct Quantity {
    nanos: i128,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Text(String),
    Number(Number),
}

impl Quantity {
    /// A whole number of units, e.g. bytes.
    pub fn from_value(v: i64) -> Self {
        Self {
            nanos: i128::from(v) * NANOS_PER_UNIT,
            repr: Repr::Text(v.to_string()),
        }
    }

    /// A number of thousandths, e.g. milli-cores; written `250m` or `2`.
    pub fn from_milli(m: i64) -> Self {
        let text = if m % 1000 == 0 {
            (m / 1000).to_string()
        } else {
            format!("{m}m")
        };
        Self {
            nanos: i128::from(m) * 1_000_000,
            repr: Repr::Text(text),
        }
    }

    /// The value in units, rounded up (away from zero); `None` if it does not
    /// fit an `i64`.
    pub fn value(&self) -> Option<i64> {
        i64::try_from(div_away(self.nanos, NANOS_PER_UNIT)).ok()
    }

    /// The value in thousandths, rounded up (away from zero); `None` if it
    /// does not fit an `i64` (the reference returns 0 then).
    pub fn milli_value(&self) -> Option<i64> {
        i64::try_from(div_away(self.nanos, 1_000_000)).ok()
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let q = match v {
            Value::String(s) => s.parse(),
            Value::Number(n) => n.to_string().parse().map(|q: Quantity| Self {
                repr: Repr::Number(n.clone()),
                ..q
            }),
            other => Err(Error::new(format!(
                "cannot unmarshal {} into a quantity",
                type_name(other)
            ))),
        };
        q.map_err(|e| e.under(path))
    }
}

/// `n / d` rounded away from zero.
fn div_away(n: i128, d: i128) -> i128 {
    let q = n / d;
    if n % d == 0 { q } else { q + n.signum() }
}

/// Unsigned integer in base 2^32 limbs (little-endian): exact arithmetic for
/// the few operations parsing needs.
struct Big(Vec<u32>);

impl Big {
    fn is_zero(&self) -> bool {
        self.0.iter().all(|&l| l == 0)
    }

    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    /// Divides in place, returning the remainder.
    fn div_rem(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
        rem as u32
    }

    fn to_u128(&self) -> Option<u128> {
        let mut out = 0u128;
        for (i, &limb) in self.0.iter().enumerate() {
            if limb == 0 {
                continue;
            }
            if i >= 4 {
                return None;
            }
            out |= u128::from(limb) << (32 * i);
        }
        Some(out)
    }
}

/// Suffix → (base, exponent): 10^e for decimal and exponent suffixes,
/// 2^e for binary ones.
fn suffix(s: &str) -> Option<(u32, i64)> {
    let dec = |e| Some((10, e));
    match s {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => Some((2, 10)),
        "Mi" => Some((2, 20)),
        "Gi" => Some((2, 30)),
        "Ti" => Some((2, 40)),
        "Pi" => Some((2, 50)),
        "Ei" => Some((2, 60)),
        _ if s.len() > 1 && s.starts_with(['e', 'E']) => s[1..].parse().ok().map(|e| (10, e)),
        _ => None,
    }
}

impl FromStr for Quantity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let format_err = || {
            Error::new(format!(
                "quantities must match the regular expression '{REGEX}'"
            ))
        };
        let (negative, unsigned) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let num_len = unsigned
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(unsigned.len());
        let (number, suf) = unsigned.split_at(num_len);
        let suffix_shape_ok = {
            let rest = suf.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c));
            let rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
            rest.chars().all(|c| c.is_ascii_digit())
        };
        if number.is_empty() || !suffix_shape_ok {
            return Err(format_err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(Error::new("unable to parse numeric part of quantity"));
        }
        let (base, exp) =
            suffix(suf).ok_or_else(|| Error::new("unable to parse quantity's suffix"))?;

        let too_large = || Error::new(format!("quantity {s:?} is too large"));
        let mut n = Big(Vec::new());
        for d in int_part.bytes().chain(frac_part.bytes()) {
            n.mul_add(10, u32::from(d - b'0'));
        }
        if base == 2 {
            for _ in 0..exp {
                n.mul_add(2, 0);
            }
        }
        // Count nano-units: shift the decimal point by the decimal exponent,
        // the fraction's length and the 9 places of nano.
        let dec_exp = if base == 10 { exp } else { 0 };
        let shift = dec_exp
            .saturating_sub(frac_part.len() as i64)
            .saturating_add(9);
        let mut inexact = false;
        if shift >= 0 {
            for _ in 0..shift {
                if n.is_zero() {
                    break;
                }
                n.mul_add(10, 0);
                if n.0.len() > 4 {
                    return Err(too_large());
                }
            }
        } else {
            for _ in 0..shift.unsigned_abs() {
                if n.is_zero() {
                    break;
                }
                inexact |= n.div_rem(10) != 0;
            }
        }
        let magnitude = n.to_u128().ok_or_else(too_large)? + u128::from(inexact);
        let magnitude = i128::try_from(magnitude).map_err(|_| too_large())?;
        Ok(Self {
            nanos: if negative { -magnitude } else { magnitude },
            repr: Repr::Text(s.to_owned()),
        })
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// The quantity as it was written.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Text(s) => f.write_str(s),
            Repr::Number(n) => write!(f, "{n}"),
        }
    }
}

/// Written back in its original form: a string stays a string, a bare JSON
/// number stays a number.
impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.repr {
            Repr::Text(t) => s.serialize_str(t),
            Repr::Number(n) => n.serialize(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = <Value as serde::Deserialize>::deserialize(d)?;
        Self::from_json(&v, "").map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn digest_table() {
        let cases: &[(&str, i64)] = &[
            ("1", 1),
            ("250m", 1),
            ("0.5", 1),
            ("1k", 1000),
            ("1Ki", 1024),
            ("1M", 1_000_000),
            ("1Mi", 1_048_576),
            ("1G", 1_000_000_000),
            ("1Gi", 1_073_741_824),
            ("1.5Gi", 1_610_612_736),
            ("123Mi", 128_974_848),
            ("125952Ki", 128_974_848),
            ("1e3", 1000),
            ("1E3", 1000),
            ("-1", -1),
            ("+2", 2),
            ("1e-3", 1),
            (".5", 1),
            ("5.", 5),
        ];
        for &(s, v) in cases {
            assert_eq!(q(s).value(), Some(v), "{s}");
        }
        assert_eq!(q("250m").milli_value(), Some(250));
        assert_eq!(q("0.3").milli_value(), Some(300));
        assert_eq!(q("1u").milli_value(), Some(1));
        assert_eq!(q("1n").nanos(), 1);
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("-0.1n").nanos(), -1);
        assert_eq!(q("0e999999999").nanos(), 0);
        assert_eq!(q("1e-999999999").nanos(), 1);
        assert_eq!(q("1E").value(), Some(1_000_000_000_000_000_000));
        assert_eq!(q("1E").milli_value(), None);
    }

    #[test]
    fn errors() {
        let msg = |s: &str| s.parse::<Quantity>().unwrap_err().to_string();
        assert!(msg("").starts_with("quantities must match the regular expression"));
        assert!(msg("abc").starts_with("quantities must match"));
        assert!(msg("1 G").starts_with("quantities must match"));
        assert_eq!(msg("1K"), "unable to parse quantity's suffix");
        assert_eq!(msg("1e"), "unable to parse quantity's suffix");
        assert_eq!(msg("1Ki3"), "unable to parse quantity's suffix");
        assert_eq!(msg("1.2.3"), "unable to parse numeric part of quantity");
        assert_eq!(msg("."), "unable to parse numeric part of quantity");
        assert!(msg("1e100").ends_with("is too large"));
        assert!(msg("1e99999999999").ends_with("is too large"));
    }

    #[test]
    fn json_forms() {
        let n = Quantity::from_json(&serde_json::json!(1073741824), "x").unwrap();
        assert_eq!(n.value(), Some(1_073_741_824));
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::json!(1073741824)
        );
        let s = Quantity::from_json(&serde_json::json!("2Gi"), "x").unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), serde_json::json!("2Gi"));
        let e = Quantity::from_json(&serde_json::json!(true), "a.limit").unwrap_err();
        assert_eq!(e.path(), "a.limit");
        assert_eq!(q("1G"), q("1000M"));
        assert!(q("1Gi") > q("1G"));
    }

    #[test]
    fn constructors() {
        assert_eq!(Quantity::from_milli(250).to_string(), "250m");
        assert_eq!(Quantity::from_milli(2000).to_string(), "2");
        assert_eq!(Quantity::from_value(7).milli_value(), Some(7000));
    }
}
