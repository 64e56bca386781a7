//! The in-process transport: a tower `Service` that hands requests straight to the API
//! server's handler (no socket, no TLS) as a given identity. Components inside `krust server`
//! (controllers, scheduler, the local kubelet) wrap it in a kube-rs `Client` and are then
//! ordinary API clients, authorized like remote ones.

use crate::{ApiServer, Identity, ResponseBody};
use bytes::Bytes;
use futures::future::BoxFuture;
use std::task::{Context, Poll};

/// A tower `Service` calling an [`ApiServer`] as `identity`.
#[derive(Clone)]
pub struct InProcess {
    api: ApiServer,
    identity: Identity,
}

impl InProcess {
    pub fn new(api: &ApiServer, identity: Identity) -> Self {
        InProcess {
            api: api.clone(),
            identity,
        }
    }
}

impl<B> tower::Service<http::Request<B>> for InProcess
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.identity.clone());
        let api = self.api.clone();
        Box::pin(async move { Ok(api.handle(req).await) })
    }
}
