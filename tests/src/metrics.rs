//! Prometheus exposition, parsed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap is a failed test"
)]

/// Every sample of a Prometheus text exposition, by series (`name{labels}`), parsed: comment
/// lines (HELP, TYPE) are skipped, so a name that appears only there is absent.
pub fn metric_samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample is `series value`");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number in sample {l:?}"));
            (series.to_owned(), value)
        })
        .collect()
}
