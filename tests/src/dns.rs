//! DNS for the tests: a stub upstream resolver on a loopback address (the cluster DNS
//! forwards to it instead of the host's resolvers) that counts the queries it gets, and a
//! one-shot UDP query that returns the whole response message.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// A stub DNS server answering A queries for fixed names (NXDOMAIN for others).
pub struct DnsStub {
    pub addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsStub {
    /// Serves `records` (`name` → address) on UDP `ip:53`.
    pub fn start(ip: Ipv4Addr, records: &[(&str, Ipv4Addr)]) -> DnsStub {
        let socket = UdpSocket::bind((ip, 53)).unwrap_or_else(|e| panic!("stub DNS {ip}:53: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = socket.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let map: HashMap<String, Ipv4Addr> = records
            .iter()
            .map(|(n, ip)| (format!("{}.", n.trim_end_matches('.')).to_lowercase(), *ip))
            .collect();
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (q, st) = (queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(req) = buf.get(..n).and_then(|b| Message::from_vec(b).ok()) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                let mut resp = Message::response(req.metadata.id, OpCode::Query);
                resp.metadata.recursion_desired = req.metadata.recursion_desired;
                resp.metadata.recursion_available = true;
                resp.add_queries(req.queries.clone());
                let question = req.queries.first();
                let name = question.map(|q| q.name().to_lowercase().to_ascii());
                match name.as_ref().and_then(|n| map.get(n)) {
                    Some(ip) => {
                        if question.is_some_and(|q| q.query_type() == RecordType::A)
                            && let Some(q) = question
                        {
                            resp.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::A(A(*ip)),
                            ));
                        }
                    }
                    None => resp.metadata.response_code = ResponseCode::NXDomain,
                }
                if let Ok(bytes) = resp.to_vec() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        DnsStub {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    /// How many queries it has answered.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsStub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends one query for `name`/`qtype` to `server` over UDP; the response, or None after 3 s.
pub fn query(server: SocketAddr, name: &str, qtype: RecordType) -> Option<Message> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut msg = Message::new(0x4b52, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).ok()?, qtype));
    socket.send_to(&msg.to_vec().ok()?, server).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Message::from_vec(buf.get(..n)?).ok()
}

/// The answer section's data as text (`10.43.0.5`, `0 100 80 web.default.svc.cluster.local.`).
pub fn answers(msg: &Message) -> Vec<String> {
    msg.answers.iter().map(|r| r.data.to_string()).collect()
}
