//! When each simulated fan arrives: everyone at the open, a steady ramp, or waves.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::config::parse_duration;

/// Arrival pattern of the load test's fans, written `open`, `ramp:<duration>` or
/// `waves:<count>x<gap>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Every fan arrives when the sale starts, as at a real onsale's open.
    Open,
    /// Arrivals spread evenly over the duration.
    Ramp(Duration),
    /// The fans split into `count` equal waves, `gap` apart; each wave arrives at once.
    Waves { count: u32, gap: Duration },
}

impl Arrival {
    /// Planned arrival of fan `number` of `fans`, as time since the start of the sale.
    pub fn offset(self, number: u64, fans: u64) -> Duration {
        let fans = fans.max(1);
        match self {
            Arrival::Open => Duration::ZERO,
            Arrival::Ramp(over) => over.mul_f64(number as f64 / fans as f64),
            Arrival::Waves { count, gap } => {
                let wave = number.saturating_mul(u64::from(count)) / fans;
                gap.saturating_mul(u32::try_from(wave).unwrap_or(u32::MAX))
            }
        }
    }
}

impl FromStr for Arrival {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let expected = "expected open, ramp:<duration> (ramp:30s) or waves:<count>x<gap> (waves:5x10s)";
        let (kind, rest) = input.split_once(':').unwrap_or((input, ""));
        match kind.to_ascii_lowercase().as_str() {
            "open" if rest.is_empty() => Ok(Arrival::Open),
            "ramp" => {
                let over = parse_duration(rest).map_err(|err| format!("invalid arrival {input:?}: {err}"))?;
                if over.is_zero() {
                    return Err(format!("invalid arrival {input:?}: a ramp needs a duration above 0, or use open"));
                }
                Ok(Arrival::Ramp(over))
            }
            "waves" => {
                let (count, gap) =
                    rest.split_once(['x', 'X']).ok_or_else(|| format!("invalid arrival {input:?}: {expected}"))?;
                let count: u32 = count.trim().parse().ok().filter(|count| *count >= 1).ok_or_else(|| {
                    format!("invalid arrival {input:?}: the wave count must be a whole number from 1")
                })?;
                let gap = parse_duration(gap).map_err(|err| format!("invalid arrival {input:?}: {err}"))?;
                Ok(Arrival::Waves { count, gap })
            }
            _ => Err(format!("invalid arrival {input:?}: {expected}")),
        }
    }
}

impl fmt::Display for Arrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arrival::Open => f.write_str("open"),
            Arrival::Ramp(over) => write!(f, "ramp:{}ms", over.as_millis()),
            Arrival::Waves { count, gap } => write!(f, "waves:{count}x{}ms", gap.as_millis()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse() {
        assert_eq!("open".parse::<Arrival>(), Ok(Arrival::Open));
        assert_eq!("ramp:30s".parse::<Arrival>(), Ok(Arrival::Ramp(Duration::from_secs(30))));
        assert_eq!("waves:5x10s".parse::<Arrival>(), Ok(Arrival::Waves { count: 5, gap: Duration::from_secs(10) }));
    }

    #[test]
    fn bad_patterns_name_the_input() {
        for bad in ["", "trickle", "ramp", "ramp:0s", "ramp:soon", "waves:5", "waves:0x1s", "waves:ax1s", "open:1s"] {
            let err = bad.parse::<Arrival>().unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn open_arrivals_are_all_at_zero() {
        assert!((0..100).all(|n| Arrival::Open.offset(n, 100).is_zero()));
    }

    #[test]
    fn ramp_spreads_arrivals_evenly() {
        let ramp = Arrival::Ramp(Duration::from_secs(10));
        assert_eq!(ramp.offset(0, 100), Duration::ZERO);
        assert_eq!(ramp.offset(50, 100), Duration::from_secs(5));
        assert!(ramp.offset(99, 100) < Duration::from_secs(10));
    }

    #[test]
    fn waves_split_the_fans_into_equal_groups() {
        let waves = Arrival::Waves { count: 4, gap: Duration::from_secs(10) };
        let offsets: Vec<u64> = (0..8).map(|n| waves.offset(n, 8).as_secs()).collect();
        assert_eq!(offsets, [0, 0, 10, 10, 20, 20, 30, 30]);
    }

    #[test]
    fn display_parses_back() {
        for arrival in [
            Arrival::Open,
            Arrival::Ramp(Duration::from_millis(1500)),
            Arrival::Waves { count: 3, gap: Duration::from_secs(2) },
        ] {
            assert_eq!(arrival.to_string().parse::<Arrival>(), Ok(arrival));
        }
    }
}
