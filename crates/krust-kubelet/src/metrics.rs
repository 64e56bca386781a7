//! The kubelet's Prometheus metrics with upstream's names: CRI call latencies
//! (`kubelet_runtime_operations_duration_seconds`) and errors
//! (`kubelet_runtime_operations_errors_total`), by operation.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::{Mutex, OnceLock};

/// The operation label (`run_podsandbox`, `create_container`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Operation {
    pub operation_type: String,
}

const BUCKETS: &[f64] = &[
    0.005,
    0.0125,
    0.03125,
    0.078125,
    0.1953125,
    0.48828125,
    1.220703125,
    3.0517578125,
    7.62939453125,
    19.073486328125,
    47.6837158203125,
    119.20928955078125,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.iter().copied())
}

/// The kubelet's metric families.
pub struct KubeletMetrics {
    registry: Mutex<Registry>,
    pub runtime_duration: Family<Operation, Histogram, fn() -> Histogram>,
    pub runtime_errors: Family<Operation, Counter>,
}

/// The process-wide kubelet metrics.
pub fn global() -> &'static KubeletMetrics {
    static METRICS: OnceLock<KubeletMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::default();
        let runtime_duration =
            Family::<Operation, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let runtime_errors = Family::<Operation, Counter>::default();
        registry.register(
            "kubelet_runtime_operations_duration_seconds",
            "Duration in seconds of runtime operations. Broken down by operation type.",
            runtime_duration.clone(),
        );
        registry.register(
            "kubelet_runtime_operations_errors",
            "Cumulative number of runtime operation errors by operation type.",
            runtime_errors.clone(),
        );
        KubeletMetrics {
            registry: Mutex::new(registry),
            runtime_duration,
            runtime_errors,
        }
    })
}

/// upstream's operation name of a CRI call (`RunPodSandbox` -> `run_podsandbox`).
pub fn operation_type(call: &str) -> String {
    let mut out = String::new();
    for (i, c) in call.char_indices() {
        if c.is_ascii_uppercase() && i > 0 && !call[..i].ends_with("Pod") {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Records one CRI call.
pub fn observe(call: &str, seconds: f64, ok: bool) {
    let labels = Operation {
        operation_type: operation_type(call),
    };
    let m = global();
    m.runtime_duration.get_or_create(&labels).observe(seconds);
    if !ok {
        m.runtime_errors.get_or_create(&labels).inc();
    }
}

/// The text exposition of the kubelet's metrics.
pub fn encode() -> String {
    let mut out = String::new();
    let reg = global()
        .registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        out.clear();
    }
    // The registry ends its text with `# EOF`; callers append it to other registries' text.
    out.trim_end().trim_end_matches("# EOF").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_upstream() {
        assert_eq!(operation_type("RunPodSandbox"), "run_podsandbox");
        assert_eq!(operation_type("CreateContainer"), "create_container");
        assert_eq!(operation_type("ListPodSandbox"), "list_podsandbox");
        observe("StartContainer", 0.01, true);
        let text = encode();
        assert!(text.contains("kubelet_runtime_operations_duration_seconds_count{operation_type=\"start_container\"} 1"), "{text}");
    }
}
