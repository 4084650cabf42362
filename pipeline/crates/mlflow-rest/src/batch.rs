//! Splitting what a run logs into `runs/log-batch` requests MLflow accepts. The server refuses a whole
//! request past its limits (`mlflow/utils/validation.py`), so the client cuts before sending.

use super::types::{Metric, Param, RunTag};

/// Most metrics in one `runs/log-batch` request.
pub const MAX_METRICS_PER_BATCH: usize = 1000;
/// Most params in one request.
pub const MAX_PARAMS_PER_BATCH: usize = 100;
/// Most tags in one request.
pub const MAX_TAGS_PER_BATCH: usize = 100;
/// Most metrics, params and tags together in one request.
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
/// Longest param value, in characters.
pub const MAX_PARAM_VALUE_CHARS: usize = 6000;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 8000;

/// What one `runs/log-batch` request carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Metrics.
    pub metrics: Vec<Metric>,
    /// Params.
    pub params: Vec<Param>,
    /// Tags.
    pub tags: Vec<RunTag>,
}

impl Batch {
    /// Number of entities in the request.
    pub fn len(&self) -> usize {
        self.metrics.len() + self.params.len() + self.tags.len()
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Cuts metrics, params and tags into requests within MLflow's limits, keeping their order, and
/// shortens param and tag values past the server's maximum (the server would refuse the whole batch).
/// Params and tags go first so a run's configuration lands before its figures.
pub fn chunk(metrics: Vec<Metric>, params: Vec<Param>, tags: Vec<RunTag>) -> Vec<Batch> {
    let mut metrics = metrics.into_iter().peekable();
    let mut params = params
        .into_iter()
        .map(|p| Param { value: truncate_chars(&p.value, MAX_PARAM_VALUE_CHARS), key: p.key })
        .peekable();
    let mut tags = tags
        .into_iter()
        .map(|t| RunTag { value: truncate_chars(&t.value, MAX_TAG_VALUE_CHARS), key: t.key })
        .peekable();
    let mut batches = Vec::new();
    while params.peek().is_some() || tags.peek().is_some() || metrics.peek().is_some() {
        let mut b = Batch::default();
        b.params.extend(params.by_ref().take(MAX_PARAMS_PER_BATCH));
        b.tags.extend(tags.by_ref().take(MAX_TAGS_PER_BATCH));
        let room = MAX_METRICS_PER_BATCH.min(MAX_ENTITIES_PER_BATCH - b.params.len() - b.tags.len());
        b.metrics.extend(metrics.by_ref().take(room));
        batches.push(b);
    }
    batches
}

/// The first `max` characters of `s` (MLflow counts characters, not bytes), marked as cut when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    const MARK: &str = "…[truncated]";
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(MARK.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(n: usize) -> Vec<Metric> {
        (0..n).map(|i| Metric::new(format!("m{i}"), i as f64, i as i64, 1)).collect()
    }
    fn params(n: usize) -> Vec<Param> {
        (0..n).map(|i| Param::new(format!("p{i}"), i.to_string())).collect()
    }
    fn tags(n: usize) -> Vec<RunTag> {
        (0..n).map(|i| RunTag::new(format!("t{i}"), i.to_string())).collect()
    }

    #[test]
    fn every_request_stays_within_mlflow_limits_and_nothing_is_lost_or_reordered() {
        let (m, p, t) = (metrics(2500), params(250), tags(130));
        let batches = chunk(m.clone(), p.clone(), t.clone());
        for b in &batches {
            assert!(b.metrics.len() <= MAX_METRICS_PER_BATCH, "{} metrics", b.metrics.len());
            assert!(b.params.len() <= MAX_PARAMS_PER_BATCH, "{} params", b.params.len());
            assert!(b.tags.len() <= MAX_TAGS_PER_BATCH, "{} tags", b.tags.len());
            assert!(b.len() <= MAX_ENTITIES_PER_BATCH, "{} entities", b.len());
            assert!(!b.is_empty());
        }
        let all_m: Vec<_> = batches.iter().flat_map(|b| b.metrics.clone()).collect();
        let all_p: Vec<_> = batches.iter().flat_map(|b| b.params.clone()).collect();
        let all_t: Vec<_> = batches.iter().flat_map(|b| b.tags.clone()).collect();
        assert_eq!((all_m, all_p, all_t), (m, p, t));
        // 250 params need 3 requests; the metrics fill the room the params and tags leave.
        let shape: Vec<_> = batches.iter().map(|b| (b.metrics.len(), b.params.len(), b.tags.len())).collect();
        assert_eq!(shape, [(800, 100, 100), (870, 100, 30), (830, 50, 0)]);
    }

    #[test]
    fn exactly_full_and_empty_inputs() {
        assert!(chunk(vec![], vec![], vec![]).is_empty());
        let b = chunk(metrics(1000), vec![], vec![]);
        assert_eq!(b.len(), 1);
        let b = chunk(metrics(1001), params(100), tags(100));
        assert_eq!(
            b.iter().map(|b| (b.metrics.len(), b.params.len(), b.tags.len())).collect::<Vec<_>>(),
            [(800, 100, 100), (201, 0, 0)]
        );
    }

    #[test]
    fn long_param_and_tag_values_are_cut_to_the_server_maximum_in_characters() {
        let long = "é".repeat(7000); // 2 bytes per char: the limit is on characters
        let b = chunk(
            vec![],
            vec![Param::new("p", long.clone()), Param::new("short", "x")],
            vec![RunTag::new("t", "x".repeat(9000))],
        );
        let p = &b[0].params[0].value;
        assert_eq!(p.chars().count(), MAX_PARAM_VALUE_CHARS);
        assert!(p.starts_with("éé") && p.ends_with("[truncated]"));
        assert_eq!(b[0].params[1].value, "x");
        assert_eq!(b[0].tags[0].value.chars().count(), MAX_TAG_VALUE_CHARS);
        assert_eq!(truncate_chars(&"a".repeat(6000), 6000), "a".repeat(6000));
    }
}
