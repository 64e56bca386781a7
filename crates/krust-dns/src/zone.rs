//! The cluster zone (`cluster.local` by default) as CoreDNS's `kubernetes` plugin serves it,
//! built from Services, EndpointSlices and Namespaces: `<svc>.<ns>.svc` A/AAAA (the ClusterIP,
//! or a headless Service's ready endpoints), SRV for the named ports
//! (`_<port>._<proto>.<svc>.<ns>.svc`), ExternalName as CNAME, headless endpoints by hostname
//! or dashed IP, `<dashed-ip>.<ns>.pod` (CoreDNS's `pods insecure`), PTR for Service and
//! endpoint IPs; NXDOMAIN and NODATA (NOERROR, no answer) with the zone's SOA, as CoreDNS
//! answers them. A pure function of its inputs: [`Zone::answer`] never blocks.

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The TTL of every record (CoreDNS's `kubernetes` plugin default).
pub const TTL: u32 = 5;

/// What a query in the zone gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub additionals: Vec<Record>,
    /// The zone's SOA, in the authority section of negative answers.
    pub soa: Option<Record>,
    /// An ExternalName target to resolve outside the zone and append (A/AAAA queries).
    pub chase: Option<Name>,
}

#[derive(Debug, Clone)]
enum Kind {
    ClusterIp(Vec<IpAddr>),
    Headless,
    External(Name),
}

#[derive(Debug, Clone)]
struct Port {
    name: String,
    protocol: String,
    port: u16,
}

#[derive(Debug, Clone)]
struct Endpoint {
    ip: IpAddr,
    /// The first label of the endpoint's name: its hostname, else the dashed IP.
    label: String,
    ports: Vec<Port>,
}

#[derive(Debug, Clone)]
struct ServiceEntry {
    kind: Kind,
    ports: Vec<Port>,
    endpoints: Vec<Endpoint>,
}

/// The zone's contents.
#[derive(Debug, Clone)]
pub struct Zone {
    domain: Name,
    /// The cluster DNS Service IP (`ns.dns.<domain>`).
    dns_ip: Option<IpAddr>,
    serial: u32,
    namespaces: HashSet<String>,
    services: HashMap<(String, String), ServiceEntry>,
    ptr: HashMap<IpAddr, Name>,
}

/// The dashed form of an IP (`10-42-0-5`, `fd00--1`).
pub fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn undashed(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

fn ports_of_slice(slice: &EndpointSlice) -> Vec<Port> {
    slice
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(Port {
                name: p.name.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.port?).ok()?,
            })
        })
        .collect()
}

impl Zone {
    /// An empty zone for `domain` (`cluster.local`).
    pub fn empty(domain: &str, dns_ip: Option<IpAddr>) -> Zone {
        let domain = Name::from_ascii(format!("{}.", domain.trim_matches('.')))
            .unwrap_or_else(|_| Name::root())
            .to_lowercase();
        Zone {
            domain,
            dns_ip,
            serial: 1,
            namespaces: HashSet::new(),
            services: HashMap::new(),
            ptr: HashMap::new(),
        }
    }

    /// The zone holding these objects; `serial` is the SOA serial (it changes with the data).
    pub fn build(
        domain: &str,
        dns_ip: Option<IpAddr>,
        serial: u32,
        services: &[impl AsRef<Service>],
        slices: &[impl AsRef<EndpointSlice>],
        namespaces: &[impl AsRef<Namespace>],
    ) -> Zone {
        let mut zone = Zone::empty(domain, dns_ip);
        zone.serial = serial;
        for ns in namespaces {
            if let Some(n) = &ns.as_ref().metadata.name {
                zone.namespaces.insert(n.clone());
            }
        }
        let mut by_service: HashMap<(String, String), Vec<&EndpointSlice>> = HashMap::new();
        for s in slices {
            let s = s.as_ref();
            let svc = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"));
            if let (Some(ns), Some(svc)) = (&s.metadata.namespace, svc) {
                by_service
                    .entry((ns.clone(), svc.clone()))
                    .or_default()
                    .push(s);
            }
        }
        for svc in services {
            let svc = svc.as_ref();
            let (Some(ns), Some(name)) = (&svc.metadata.namespace, &svc.metadata.name) else {
                continue;
            };
            let Some(spec) = &svc.spec else { continue };
            let key = (ns.clone(), name.clone());
            let fqdn = zone.service_name(name, ns);
            let kind = if spec.type_.as_deref() == Some("ExternalName") {
                let target = spec.external_name.clone().unwrap_or_default();
                match Name::from_ascii(format!("{}.", target.trim_end_matches('.'))) {
                    Ok(t) => Kind::External(t),
                    Err(_) => continue,
                }
            } else if spec.cluster_ip.as_deref() == Some("None") {
                Kind::Headless
            } else {
                let ips: Vec<IpAddr> = spec
                    .cluster_ips
                    .iter()
                    .flatten()
                    .chain(spec.cluster_ip.iter())
                    .filter_map(|ip| ip.parse().ok())
                    .fold(Vec::new(), |mut v, ip| {
                        if !v.contains(&ip) {
                            v.push(ip);
                        }
                        v
                    });
                if ips.is_empty() {
                    continue;
                }
                Kind::ClusterIp(ips)
            };
            let ports = spec
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(Port {
                        name: p.name.clone().unwrap_or_default(),
                        protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port: u16::try_from(p.port).ok()?,
                    })
                })
                .collect();
            let mut endpoints = Vec::new();
            if matches!(kind, Kind::Headless) {
                let mut seen = HashSet::new();
                for slice in by_service.get(&key).into_iter().flatten() {
                    let ports = ports_of_slice(slice);
                    for ep in &slice.endpoints {
                        let ready = ep.conditions.as_ref().and_then(|c| c.ready) != Some(false);
                        if !ready {
                            continue;
                        }
                        for ip in ep.addresses.iter().filter_map(|a| a.parse::<IpAddr>().ok()) {
                            if !seen.insert(ip) {
                                continue;
                            }
                            let label = ep
                                .hostname
                                .clone()
                                .filter(|h| !h.is_empty())
                                .unwrap_or_else(|| dashed(ip));
                            endpoints.push(Endpoint {
                                ip,
                                label,
                                ports: ports.clone(),
                            });
                        }
                    }
                }
                endpoints.sort_by_key(|e| e.ip);
            }
            if let Some(fqdn) = &fqdn {
                match &kind {
                    Kind::ClusterIp(ips) => {
                        for ip in ips {
                            zone.ptr.insert(*ip, fqdn.clone());
                        }
                    }
                    Kind::Headless => {
                        for e in &endpoints {
                            if let Ok(n) =
                                Name::from_ascii(&e.label).and_then(|l| l.append_domain(fqdn))
                            {
                                zone.ptr.insert(e.ip, n);
                            }
                        }
                    }
                    Kind::External(_) => {}
                }
            }
            zone.services.insert(
                key,
                ServiceEntry {
                    kind,
                    ports,
                    endpoints,
                },
            );
        }
        zone
    }

    /// The zone's apex (`cluster.local.`).
    pub fn domain(&self) -> &Name {
        &self.domain
    }

    fn service_name(&self, svc: &str, ns: &str) -> Option<Name> {
        Name::from_ascii(format!("{svc}.{ns}.svc"))
            .and_then(|n| n.append_domain(&self.domain))
            .ok()
    }

    fn soa(&self) -> Record {
        let mname = Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&self.domain))
            .unwrap_or_else(|_| self.domain.clone());
        let rname = Name::from_ascii("hostmaster")
            .and_then(|n| n.append_domain(&self.domain))
            .unwrap_or_else(|_| self.domain.clone());
        Record::from_rdata(
            self.domain.clone(),
            TTL,
            RData::SOA(SOA::new(mname, rname, self.serial, 7200, 1800, 86400, TTL)),
        )
    }

    fn positive(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
        if answers.is_empty() {
            return self.negative(ResponseCode::NoError);
        }
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            additionals,
            soa: None,
            chase: None,
        }
    }

    fn negative(&self, rcode: ResponseCode) -> Answer {
        Answer {
            rcode,
            answers: Vec::new(),
            additionals: Vec::new(),
            soa: Some(self.soa()),
            chase: None,
        }
    }

    /// The answer to `name`/`qtype`, or None when the name is outside the zone (forwarded, or a
    /// reverse name [`Zone::reverse`] does not know).
    pub fn answer(&self, name: &Name, qtype: RecordType) -> Option<Answer> {
        let name = name.to_lowercase();
        if !self.domain.zone_of(&name) {
            return None;
        }
        let extra = usize::from(name.num_labels().saturating_sub(self.domain.num_labels()));
        // Labels nearest the apex first: `web.default.svc` → ["svc", "default", "web"].
        let rel: Vec<String> = name
            .iter()
            .take(extra)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .rev()
            .collect();
        let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
        Some(match rel.as_slice() {
            [] => self.apex(qtype),
            ["dns"] => self.negative(ResponseCode::NoError),
            ["dns", "ns"] => match (qtype, self.dns_ip) {
                (RecordType::A | RecordType::AAAA, Some(ip)) => {
                    self.positive(address_records(&name, &[ip], qtype), Vec::new())
                }
                _ => self.negative(ResponseCode::NoError),
            },
            ["svc"] | ["pod"] => self.negative(ResponseCode::NoError),
            ["svc" | "pod", ns] => {
                if self.namespaces.contains(*ns) {
                    self.negative(ResponseCode::NoError)
                } else {
                    self.negative(ResponseCode::NXDomain)
                }
            }
            ["svc", ns, svc] => self.service(&name, ns, svc, qtype),
            ["svc", ns, svc, first] => self.below_service(&name, ns, svc, first, qtype),
            ["svc", ns, svc, proto, port] => self.srv_port(ns, svc, proto, port, qtype),
            ["pod", ns, ip] => match undashed(ip) {
                Some(ip) if self.namespaces.contains(*ns) => {
                    self.positive(address_records(&name, &[ip], qtype), Vec::new())
                }
                _ => self.negative(ResponseCode::NXDomain),
            },
            _ => self.negative(ResponseCode::NXDomain),
        })
    }

    fn apex(&self, qtype: RecordType) -> Answer {
        let ns_name = Name::from_ascii("ns.dns").and_then(|n| n.append_domain(&self.domain));
        match (qtype, ns_name) {
            (RecordType::SOA, _) => self.positive(vec![self.soa()], Vec::new()),
            (RecordType::NS, Ok(ns)) => {
                let additionals = self
                    .dns_ip
                    .map(|ip| address_records(&ns, &[ip], RecordType::A))
                    .unwrap_or_default();
                let ns_record =
                    Record::from_rdata(self.domain.clone(), TTL, RData::NS(NS(ns.clone())));
                self.positive(vec![ns_record], additionals)
            }
            _ => self.negative(ResponseCode::NoError),
        }
    }

    fn service(&self, name: &Name, ns: &str, svc: &str, qtype: RecordType) -> Answer {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.negative(ResponseCode::NXDomain);
        };
        match &entry.kind {
            Kind::External(target) => {
                let cname =
                    Record::from_rdata(name.clone(), TTL, RData::CNAME(CNAME(target.clone())));
                let mut a = self.positive(vec![cname], Vec::new());
                if matches!(qtype, RecordType::A | RecordType::AAAA) {
                    a.chase = Some(target.clone());
                }
                a
            }
            Kind::ClusterIp(ips) => match qtype {
                RecordType::SRV => {
                    let answers = entry
                        .ports
                        .iter()
                        .map(|p| srv(name, 0, 100, p.port, name.clone()))
                        .collect();
                    let additionals = address_records(name, ips, RecordType::A);
                    self.positive(answers, additionals)
                }
                _ => self.positive(address_records(name, ips, qtype), Vec::new()),
            },
            Kind::Headless => {
                if entry.endpoints.is_empty() {
                    // CoreDNS: a headless Service without ready endpoints does not exist.
                    return self.negative(ResponseCode::NXDomain);
                }
                match qtype {
                    RecordType::SRV => self.headless_srv(name, entry, None),
                    _ => {
                        let ips: Vec<IpAddr> = entry.endpoints.iter().map(|e| e.ip).collect();
                        self.positive(address_records(name, &ips, qtype), Vec::new())
                    }
                }
            }
        }
    }

    fn headless_srv(&self, service: &Name, entry: &ServiceEntry, only: Option<&Port>) -> Answer {
        let mut targets = Vec::new();
        for e in &entry.endpoints {
            let Ok(target) = Name::from_ascii(&e.label).and_then(|l| l.append_domain(service))
            else {
                continue;
            };
            for p in &e.ports {
                if let Some(want) = only
                    && !(p.name.eq_ignore_ascii_case(&want.name)
                        && p.protocol.eq_ignore_ascii_case(&want.protocol))
                {
                    continue;
                }
                targets.push((target.clone(), e.ip, p.port));
            }
        }
        let weight = u16::try_from(100 / targets.len().max(1))
            .unwrap_or(100)
            .max(1);
        let owner = match only {
            Some(p) => Name::from_ascii(format!(
                "_{}._{}",
                p.name.to_ascii_lowercase(),
                p.protocol.to_ascii_lowercase()
            ))
            .and_then(|n| n.append_domain(service))
            .unwrap_or_else(|_| service.clone()),
            None => service.clone(),
        };
        let answers = targets
            .iter()
            .map(|(t, _, port)| srv(&owner, 0, weight, *port, t.clone()))
            .collect();
        let additionals = targets
            .iter()
            .flat_map(|(t, ip, _)| address_records(t, &[*ip], record_type_of(*ip)))
            .collect();
        self.positive(answers, additionals)
    }

    /// `<endpoint>.<svc>.<ns>.svc`, or the `_<proto>` empty non-terminal of a named port.
    fn below_service(
        &self,
        name: &Name,
        ns: &str,
        svc: &str,
        first: &str,
        qtype: RecordType,
    ) -> Answer {
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.negative(ResponseCode::NXDomain);
        };
        if let Some(proto) = first.strip_prefix('_') {
            if entry
                .ports
                .iter()
                .any(|p| p.protocol.eq_ignore_ascii_case(proto) && !p.name.is_empty())
            {
                return self.negative(ResponseCode::NoError);
            }
            return self.negative(ResponseCode::NXDomain);
        }
        let ips: Vec<IpAddr> = entry
            .endpoints
            .iter()
            .filter(|e| e.label == first)
            .map(|e| e.ip)
            .collect();
        if ips.is_empty() {
            return self.negative(ResponseCode::NXDomain);
        }
        self.positive(address_records(name, &ips, qtype), Vec::new())
    }

    /// `_<port>._<proto>.<svc>.<ns>.svc` SRV.
    fn srv_port(&self, ns: &str, svc: &str, proto: &str, port: &str, qtype: RecordType) -> Answer {
        let (Some(proto), Some(port_name)) = (proto.strip_prefix('_'), port.strip_prefix('_'))
        else {
            return self.negative(ResponseCode::NXDomain);
        };
        let Some(entry) = self.services.get(&(ns.to_string(), svc.to_string())) else {
            return self.negative(ResponseCode::NXDomain);
        };
        let Some(port) = entry.ports.iter().find(|p| {
            p.name.eq_ignore_ascii_case(port_name) && p.protocol.eq_ignore_ascii_case(proto)
        }) else {
            return self.negative(ResponseCode::NXDomain);
        };
        if qtype != RecordType::SRV {
            return self.negative(ResponseCode::NoError);
        }
        let Some(service) = self.service_name(svc, ns) else {
            return self.negative(ResponseCode::NXDomain);
        };
        match &entry.kind {
            Kind::ClusterIp(ips) => {
                let owner = Name::from_ascii(format!("_{}._{}", port_name, proto))
                    .and_then(|n| n.append_domain(&service))
                    .unwrap_or_else(|_| service.clone());
                let answers = vec![srv(&owner, 0, 100, port.port, service.clone())];
                let additionals = address_records(&service, ips, RecordType::A);
                self.positive(answers, additionals)
            }
            Kind::Headless => self.headless_srv(&service, entry, Some(port)),
            Kind::External(_) => self.negative(ResponseCode::NoError),
        }
    }

    /// A PTR answer for a Service or headless endpoint IP (`d.c.b.a.in-addr.arpa.`), None for
    /// other names (forwarded).
    pub fn reverse(&self, name: &Name, qtype: RecordType) -> Option<Answer> {
        if qtype != RecordType::PTR {
            return None;
        }
        let ip = reverse_ip(name)?;
        let target = self.ptr.get(&ip)?;
        Some(self.positive(
            vec![Record::from_rdata(
                name.clone(),
                TTL,
                RData::PTR(PTR(target.clone())),
            )],
            Vec::new(),
        ))
    }
}

fn reverse_ip(name: &Name) -> Option<IpAddr> {
    let s = name.to_lowercase().to_ascii();
    let s = s.trim_end_matches('.');
    if let Some(v4) = s.strip_suffix(".in-addr.arpa") {
        let mut parts: Vec<&str> = v4.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        parts.reverse();
        return parts.join(".").parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    let v6 = s.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<&str> = v6.split('.').rev().collect();
    if nibbles.len() != 32 {
        return None;
    }
    let hex: String = nibbles.concat();
    let groups: Vec<&str> = (0..8).filter_map(|i| hex.get(i * 4..i * 4 + 4)).collect();
    groups.join(":").parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn record_type_of(ip: IpAddr) -> RecordType {
    match ip {
        IpAddr::V4(_) => RecordType::A,
        IpAddr::V6(_) => RecordType::AAAA,
    }
}

/// A or AAAA records of `name` for the IPs of the queried family (none for other types).
fn address_records(name: &Name, ips: &[IpAddr], qtype: RecordType) -> Vec<Record> {
    ips.iter()
        .filter_map(|ip| match (ip, qtype) {
            (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => {
                Some(Record::from_rdata(name.clone(), TTL, RData::A(A(*v4))))
            }
            (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => Some(Record::from_rdata(
                name.clone(),
                TTL,
                RData::AAAA(AAAA(*v6)),
            )),
            _ => None,
        })
        .collect()
}

fn srv(owner: &Name, priority: u16, weight: u16, port: u16, target: Name) -> Record {
    Record::from_rdata(
        owner.clone(),
        TTL,
        RData::SRV(SRV::new(priority, weight, port, target)),
    )
}

#[cfg(test)]
mod tests;
