//! The value parsers of the command line's numbers: each says in its error what it
//! expected, and clap adds the option and the value.

/// A percentage written `5`, `5%` or `2.5 %`: finite and not negative.
pub(super) fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "a percentage such as 5 or 5% was expected, not `{text}`"
        )),
    }
}

/// A share of a profile in percent: a [`percent`] of at most 100.
pub(super) fn share_percent(text: &str) -> Result<f64, String> {
    match percent(text)? {
        v if v <= 100.0 => Ok(v),
        v => Err(format!("a share of the profile is at most 100%, not {v}%")),
    }
}

/// A false discovery rate: more than 0, less than 1.
pub(super) fn false_discovery_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "a false discovery rate between 0 and 1 (such as 0.05) was expected, not `{text}`"
        )),
    }
}

/// The number of bootstrap resamples: 99 to 100000.
pub(super) fn resamples(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (99..=100_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "between 99 and 100000 resamples was expected, not `{text}`"
        )),
    }
}

/// A duration in seconds: finite and more than 0.
pub(super) fn seconds(text: &str) -> Result<std::time::Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| std::time::Duration::try_from_secs_f64(v).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("a positive number of seconds was expected, not `{text}`"))
}

/// A sampling rate in samples per second: more than 0, at most 100000.
pub(super) fn rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 100_000.0 => Ok(v),
        _ => Err(format!(
            "between 0 and 100000 samples per second was expected, not `{text}`"
        )),
    }
}
