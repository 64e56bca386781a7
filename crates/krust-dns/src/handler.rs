//! The DNS request handler: queries in the cluster zone (and PTR queries for cluster IPs) are
//! answered from the current [`Zone`], authoritatively; everything else goes to the
//! [`Forwarder`]. Only standard queries with one question are served (others get NOTIMP or
//! FORMERR, as CoreDNS answers them).

use crate::forward::Forwarder;
use crate::zone::Zone;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{Name, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use std::sync::{Arc, RwLock};

/// The zone the handler answers from, replaced whole when the cluster changes.
pub type SharedZone = Arc<RwLock<Arc<Zone>>>;

/// Serves the cluster zone and forwards the rest.
pub struct ClusterDnsHandler {
    zone: SharedZone,
    forwarder: Option<Forwarder>,
}

struct Reply {
    rcode: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    additionals: Vec<Record>,
    soa: Option<Record>,
}

impl ClusterDnsHandler {
    pub fn new(zone: SharedZone, forwarder: Option<Forwarder>) -> Self {
        ClusterDnsHandler { zone, forwarder }
    }

    async fn resolve(&self, name: &Name, qtype: hickory_server::proto::rr::RecordType) -> Reply {
        let zone = match self.zone.read() {
            Ok(z) => z.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(a) = zone
            .answer(name, qtype)
            .or_else(|| zone.reverse(name, qtype))
        {
            let mut answers = a.answers;
            if let (Some(target), Some(fwd)) = (&a.chase, &self.forwarder) {
                answers.extend(fwd.lookup(target, qtype).await.answers);
            }
            return Reply {
                rcode: a.rcode,
                authoritative: true,
                answers,
                additionals: a.additionals,
                soa: a.soa,
            };
        }
        match &self.forwarder {
            Some(fwd) => {
                let f = fwd.lookup(name, qtype).await;
                Reply {
                    rcode: f.rcode,
                    authoritative: false,
                    answers: f.answers,
                    additionals: Vec::new(),
                    soa: f.soa,
                }
            }
            None => Reply {
                rcode: ResponseCode::ServFail,
                authoritative: false,
                answers: Vec::new(),
                additionals: Vec::new(),
                soa: None,
            },
        }
    }
}

fn failed(request: &Request, rcode: ResponseCode) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = rcode;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for ClusterDnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut edns = None;
        if let Some(req) = &request.edns {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().max(512));
            edns = Some(e);
        }
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(e) = &edns {
            builder.edns(e);
        }
        if request.metadata.op_code != OpCode::Query {
            let msg = builder.error_msg(&request.metadata, ResponseCode::NotImp);
            return match response_handle.send_response(msg).await {
                Ok(info) => info,
                Err(_) => failed(request, ResponseCode::NotImp),
            };
        }
        let info = match request.request_info() {
            Ok(info) => info,
            Err(_) => {
                let msg = builder.error_msg(&request.metadata, ResponseCode::FormErr);
                return match response_handle.send_response(msg).await {
                    Ok(info) => info,
                    Err(_) => failed(request, ResponseCode::FormErr),
                };
            }
        };
        let name: Name = info.query.name().clone().into();
        let reply = self.resolve(&name, info.query.query_type()).await;
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.response_code = reply.rcode;
        metadata.authoritative = reply.authoritative;
        metadata.recursion_available = true;
        let msg = builder.build(
            metadata,
            reply.answers.iter(),
            std::iter::empty(),
            reply.soa.iter(),
            reply.additionals.iter(),
        );
        match response_handle.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "sending a DNS response failed");
                failed(request, ResponseCode::ServFail)
            }
        }
    }
}
