//! `/livez`, `/readyz` and `/healthz` with upstream's named checks, each computed when asked:
//! `etcd` passes only when the datastore answered a read (and, for SQLite, granted the write
//! lock) within [`DATASTORE_TIMEOUT`],
//! `informer-sync` when the watch cache has caught up with the datastore,
//! `poststarthook/bootstrap-controller` when the objects every cluster has exist. `?verbose`
//! lists every check (`[+]ping ok`), `?exclude=<name>` skips one, `/readyz/<name>` runs one.
//! A failing endpoint answers 503 with the list, as a load balancer expects.

use crate::ApiServer;
use crate::response::{self, ResponseBody};
use http::Response;
use std::time::Duration;

/// How long the datastore may take to answer the health read.
pub const DATASTORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The checks of each endpoint, in upstream's order.
fn checks_of(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "readyz" => &[
            "ping",
            "log",
            "etcd",
            "etcd-readiness",
            "informer-sync",
            "poststarthook/bootstrap-controller",
            "shutdown",
        ],
        _ => &["ping", "log", "etcd", "poststarthook/bootstrap-controller"],
    }
}

/// What a run of the checks found.
#[derive(Default)]
struct Findings {
    datastore: Option<Result<(), String>>,
    cache: Option<Result<(), String>>,
    bootstrap: Option<Result<(), String>>,
}

impl Findings {
    async fn datastore(&mut self, server: &ApiServer) -> Result<(), String> {
        if let Some(r) = &self.datastore {
            return r.clone();
        }
        let read = server.state.backend.check();
        let r = match tokio::time::timeout(DATASTORE_TIMEOUT, read).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the datastore failed: {e}")),
            Err(_) => Err(format!(
                "the datastore did not answer within {}s",
                DATASTORE_TIMEOUT.as_secs()
            )),
        };
        self.datastore = Some(r.clone());
        r
    }

    async fn cache(&mut self, server: &ApiServer) -> Result<(), String> {
        if let Some(r) = &self.cache {
            return r.clone();
        }
        let current =
            tokio::time::timeout(DATASTORE_TIMEOUT, server.state.backend.current_revision()).await;
        let r = match current {
            Ok(Ok(rev)) => {
                if server.state.cache.wait_for(rev, DATASTORE_TIMEOUT).await {
                    Ok(())
                } else {
                    Err(format!(
                        "the watch cache is at revision {}, the datastore at {rev}",
                        server.state.cache.revision()
                    ))
                }
            }
            Ok(Err(e)) => Err(format!("the datastore failed: {e}")),
            Err(_) => Err("the datastore did not answer".into()),
        };
        self.cache = Some(r.clone());
        r
    }

    fn bootstrap(&mut self, server: &ApiServer) -> Result<(), String> {
        if let Some(r) = &self.bootstrap {
            return r.clone();
        }
        let cache = &server.state.cache;
        let mut missing = Vec::new();
        for ns in crate::bootstrap::NAMESPACES {
            let key = format!("/registry/core/namespaces/{ns}");
            if cache.get("core/namespaces", &key).0.is_none() {
                missing.push(format!("namespace {ns}"));
            }
        }
        let svc = "/registry/core/services/default/kubernetes";
        if cache.get("core/services", svc).0.is_none() {
            missing.push("service default/kubernetes".into());
        }
        let r = if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing {}", missing.join(", ")))
        };
        self.bootstrap = Some(r.clone());
        r
    }

    async fn run(&mut self, server: &ApiServer, check: &str) -> Result<(), String> {
        match check {
            "etcd" | "etcd-readiness" => self.datastore(server).await,
            "informer-sync" => self.cache(server).await,
            "poststarthook/bootstrap-controller" => self.bootstrap(server),
            _ => Ok(()),
        }
    }
}

/// Serves `path` (`readyz`, `livez/etcd`, `healthz`...).
pub(crate) async fn serve(
    server: &ApiServer,
    path: &str,
    query: &crate::request_info::Query,
) -> Response<ResponseBody> {
    let (endpoint, single) = match path.split_once('/') {
        Some((e, rest)) => (e, Some(rest)),
        None => (path, None),
    };
    let checks = checks_of(endpoint);
    let mut findings = Findings::default();
    if let Some(one) = single {
        if !checks.contains(&one) {
            return response::text(404, "404 page not found\n".into());
        }
        return match findings.run(server, one).await {
            Ok(()) => response::text(200, "ok".into()),
            Err(e) => {
                tracing::warn!(check = one, error = %e, "health check failed");
                response::text(503, format!("internal server error: {e}\n"))
            }
        };
    }
    let excluded: Vec<&str> = query
        .get("exclude")
        .map(|e| e.split(',').collect())
        .unwrap_or_default();
    let mut text = String::new();
    let mut failed = false;
    for check in checks {
        if excluded.contains(check) {
            text.push_str(&format!("[+]{check} excluded: ok\n"));
            continue;
        }
        match findings.run(server, check).await {
            Ok(()) => text.push_str(&format!("[+]{check} ok\n")),
            Err(e) => {
                tracing::warn!(check, error = %e, "{endpoint} check failed");
                failed = true;
                text.push_str(&format!("[-]{check} failed: reason withheld\n"));
            }
        }
    }
    if failed {
        text.push_str(&format!("{endpoint} check failed\n"));
        return response::text(503, text);
    }
    if query.get("verbose").is_some() {
        text.push_str(&format!("{endpoint} check passed\n"));
        response::text(200, text)
    } else {
        response::text(200, "ok".into())
    }
}
