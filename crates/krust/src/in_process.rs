//! The in-process transport: a kube-rs `Client` whose requests go straight to the API server's
//! handler (no socket, no TLS), authenticated as a component's own identity, so controllers
//! and the scheduler inside `krust server` are ordinary API clients.

use futures::future::BoxFuture;
use krust_apiserver::{ApiServer, Identity, ResponseBody};
use std::task::{Context, Poll};

/// A tower `Service` handing requests to an [`ApiServer`] as `identity`.
#[derive(Clone)]
pub struct InProcess {
    api: ApiServer,
    identity: Identity,
}

impl tower::Service<http::Request<kube::client::Body>> for InProcess {
    type Response = http::Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<kube::client::Body>) -> Self::Future {
        req.extensions_mut().insert(self.identity.clone());
        let api = self.api.clone();
        Box::pin(async move { Ok(api.handle(req).await) })
    }
}

/// A kube-rs client for `user` (with `groups`) talking to `api` in-process.
pub fn client(api: &ApiServer, user: &str, groups: &[&str]) -> kube::Client {
    let svc = InProcess {
        api: api.clone(),
        identity: Identity::new(user, groups),
    };
    kube::Client::new(svc, "default")
}
