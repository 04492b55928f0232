//! Reading counters from a Prometheus `/metrics` text.

/// The series of counter `name` in a `/metrics` text: (labels, value) per line.
pub fn counter_series(metrics: &str, name: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(labelled) => labelled.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of every series of counter `name` (0 when absent).
pub fn counter_total(metrics: &str, name: &str) -> f64 {
    counter_series(metrics, name).iter().map(|(_, v)| v).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_totals() {
        let text = "# TYPE a_total counter\na_total{kind=\"x\"} 2\na_total{kind=\"y\"} 3\na_total_other 9\nb_total 4\n";
        assert_eq!(
            counter_series(text, "a_total"),
            [
                ("kind=\"x\"".to_owned(), 2.0),
                ("kind=\"y\"".to_owned(), 3.0)
            ]
        );
        assert!((counter_total(text, "a_total") - 5.0).abs() < f64::EPSILON);
        assert!((counter_total(text, "b_total") - 4.0).abs() < f64::EPSILON);
        assert!(counter_total(text, "c_total").abs() < f64::EPSILON);
    }
}
