//! The controller manager of krust: controllers that run inside `krust server` as ordinary API
//! clients (kube-rs over an in-process transport, as `system:kube-controller-manager`), one
//! module per controller, enabled and disabled with upstream's `--controllers` syntax.

pub mod deployment;
pub mod garbage_collector;
pub mod namespace;
pub mod replicaset;
pub mod runtime;

/// Every controller this build has, by its upstream name.
pub const CONTROLLERS: &[&str] = &["garbagecollector", "namespace", "deployment", "replicaset"];

/// Whether `name` is enabled by a `--controllers` value: a comma-separated list where `*`
/// enables every controller, `foo` enables foo, and `-foo` disables foo (upstream's syntax).
pub fn is_enabled(spec: &str, name: &str) -> bool {
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.iter().any(|i| *i == format!("-{name}")) {
        return false;
    }
    items.iter().any(|i| *i == name || *i == "*")
}

/// Starts every enabled controller on `client`.
pub fn start(client: kube::Client, spec: &str) -> Vec<&'static str> {
    let mut started = Vec::new();
    // Informers shared by the controllers that watch the same kinds.
    let informers = runtime::Informers::new(client.clone());
    for name in CONTROLLERS {
        if !is_enabled(spec, name) {
            continue;
        }
        let client = client.clone();
        match *name {
            "garbagecollector" => {
                tokio::spawn(garbage_collector::GarbageCollector::new(client).run());
            }
            "namespace" => {
                tokio::spawn(namespace::NamespaceController::new(client).run());
            }
            "deployment" => {
                tokio::spawn(
                    deployment::DeploymentController::with_informers(client, informers.clone())
                        .run(),
                );
            }
            "replicaset" => {
                tokio::spawn(
                    replicaset::ReplicaSetController::with_informers(client, informers.clone())
                        .run(),
                );
            }
            _ => continue,
        }
        started.push(*name);
    }
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controllers_flag() {
        assert!(is_enabled("*", "garbagecollector"));
        assert!(!is_enabled("*,-garbagecollector", "garbagecollector"));
        assert!(is_enabled("garbagecollector", "garbagecollector"));
        assert!(!is_enabled("deployment", "garbagecollector"));
        assert!(!is_enabled("", "garbagecollector"));
    }
}
