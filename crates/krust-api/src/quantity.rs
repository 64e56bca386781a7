//! Resource quantities (`500m`, `1.5Gi`, `2e3`) parsed exactly, as upstream's
//! `resource.Quantity`: values in whole units and thousandths (milli-units), rounded up.

use std::fmt;

/// A parsed quantity: `mantissa * 10^exp10 * 2^exp2`, kept exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

/// Why a quantity could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct QuantityError;

fn pow10(e: i32) -> Option<i128> {
    if !(0..=36).contains(&e) {
        return None;
    }
    Some(10i128.pow(e as u32))
}

impl Quantity {
    /// Parses a quantity string.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let s = s.trim();
        let (negative, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let split = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(split);
        if number.is_empty()
            || number.matches('.').count() > 1
            || !number.chars().any(|c| c.is_ascii_digit())
        {
            return Err(QuantityError);
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        if digits.len() > 30 {
            return Err(QuantityError);
        }
        let mut mantissa: i128 = digits.parse().map_err(|_| QuantityError)?;
        if negative {
            mantissa = -mantissa;
        }
        let mut exp10 = -(frac_part.len() as i32);
        let mut exp2 = 0u32;
        match suffix {
            "" => {}
            "n" => exp10 -= 9,
            "u" => exp10 -= 6,
            "m" => exp10 -= 3,
            "k" => exp10 += 3,
            "M" => exp10 += 6,
            "G" => exp10 += 9,
            "T" => exp10 += 12,
            "P" => exp10 += 15,
            "E" => exp10 += 18,
            "Ki" => exp2 = 10,
            "Mi" => exp2 = 20,
            "Gi" => exp2 = 30,
            "Ti" => exp2 = 40,
            "Pi" => exp2 = 50,
            "Ei" => exp2 = 60,
            other => {
                let exp = other.strip_prefix(['e', 'E']).ok_or(QuantityError)?;
                let e: i32 = exp.parse().map_err(|_| QuantityError)?;
                if e.abs() > 30 {
                    return Err(QuantityError);
                }
                exp10 += e;
            }
        }
        Ok(Quantity {
            mantissa,
            exp10,
            exp2,
        })
    }

    /// The value scaled by `10^scale`, rounded up (towards positive infinity), saturating.
    fn scaled(&self, scale: i32) -> i64 {
        let base = self.mantissa.saturating_mul(1i128 << self.exp2.min(62));
        let e = self.exp10 + scale;
        let v = if e >= 0 {
            match pow10(e) {
                Some(p) => base.saturating_mul(p),
                None => {
                    if base == 0 {
                        0
                    } else if base > 0 {
                        i128::MAX
                    } else {
                        i128::MIN
                    }
                }
            }
        } else {
            match pow10(-e) {
                Some(p) => {
                    let q = base.div_euclid(p);
                    if base.rem_euclid(p) != 0 { q + 1 } else { q }
                }
                None => {
                    if base > 0 {
                        1
                    } else {
                        0
                    }
                }
            }
        };
        v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// Whole units, rounded up (`1.5` -> 2, `100m` -> 1).
    pub fn value(&self) -> i64 {
        self.scaled(0)
    }

    /// Thousandths of a unit, rounded up (`0.5` -> 500, `1` -> 1000).
    pub fn milli_value(&self) -> i64 {
        self.scaled(3)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}m", self.milli_value())
    }
}

/// Parses a quantity given as a JSON string or number.
pub fn from_json(v: &serde_json::Value) -> Option<Quantity> {
    match v {
        serde_json::Value::String(s) => Quantity::parse(s).ok(),
        serde_json::Value::Number(n) => Quantity::parse(&n.to_string()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_upstream() {
        let q = |s: &str| Quantity::parse(s).unwrap();
        assert_eq!(q("500m").milli_value(), 500);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("1.5").value(), 2);
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("256Mi").value(), 256 << 20);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("2e3").value(), 2000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("0.1").milli_value(), 100);
        assert_eq!(q("1n").milli_value(), 1);
        assert_eq!(q("-1").value(), -1);
        assert_eq!(q("32").milli_value(), 32_000);
        assert_eq!(q("1.5Gi").value(), 1610612736);
        for bad in ["", "abc", "1.2.3", "1Qi", "--1", "1e", "."] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(from_json(&serde_json::json!(2)).unwrap().value(), 2);
        assert_eq!(q("8E").value(), 8_000_000_000_000_000_000i64);
    }
}
