//! kube-rs clients for the components inside `krust server`, on the API server's in-process
//! transport ([`krust_apiserver::in_process::InProcess`]): no socket, no TLS, the component's
//! own identity.

use krust_apiserver::in_process::InProcess;
use krust_apiserver::{ApiServer, Identity};

/// A kube-rs client for `user` (with `groups`) talking to `api` in-process.
pub fn client(api: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    kube::Client::new(InProcess::new(api, Identity::new(user, groups)), "default")
}
