//! The DNS side: hickory does the sockets and the wire format, this
//! handler answers each query from the zone snapshot core computed
//! ([`podnet_core::services::dns::Zone`]), swapped whole when the cluster
//! changes, so a reader never sees half an update.

use std::sync::{Arc, RwLock};

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::{A, CNAME, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use podnet_core::services::dns::{Answer, Data, QType, Zone, TTL};

/// The request handler, shared by every socket; [`ClusterDns::swap`]
/// replaces what it serves.
#[derive(Clone)]
pub struct ClusterDns {
    zone: Arc<RwLock<Arc<Zone>>>,
}

impl ClusterDns {
    /// A server answering from `zone`.
    pub fn new(zone: Zone) -> ClusterDns {
        ClusterDns {
            zone: Arc::new(RwLock::new(Arc::new(zone))),
        }
    }

    /// Serves `zone` from the next query on.
    pub fn swap(&self, zone: Zone) {
        // A poisoned lock only means a reader panicked; the data is whole.
        *self.zone.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(zone);
    }

    fn snapshot(&self) -> Arc<Zone> {
        self.zone.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A query's type as core's model names it.
pub fn qtype(t: RecordType) -> QType {
    match t {
        RecordType::A => QType::A,
        RecordType::SRV => QType::Srv,
        RecordType::PTR => QType::Ptr,
        RecordType::CNAME => QType::Cname,
        RecordType::TXT => QType::Txt,
        _ => QType::Other,
    }
}

fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", name.trim_end_matches('.'))).ok()
}

/// core's records as DNS records named as the query asked (its case kept).
pub fn records(qname: &Name, data: &[Data]) -> Vec<Record> {
    data.iter()
        .filter_map(|d| {
            let rdata = match d {
                Data::A(ip) => RData::A(A(*ip)),
                Data::Srv {
                    priority,
                    weight,
                    port,
                    target,
                } => RData::SRV(SRV::new(*priority, *weight, *port, fqdn(target)?)),
                Data::Ptr(n) => RData::PTR(PTR(fqdn(n)?)),
                Data::Cname(n) => RData::CNAME(CNAME(fqdn(n)?)),
                Data::Txt(t) => RData::TXT(TXT::new(vec![t.clone()])),
            };
            Some(Record::from_rdata(qname.clone(), TTL, rdata))
        })
        .collect()
}

/// The SOA that goes with a negative answer (RFC 2308: its minimum is how
/// long the answer may be cached), for the zone the name is in.
fn soa(zone: &Zone, qname: &Name) -> Option<Record> {
    let apex = fqdn(zone.domain())?;
    let reverse = fqdn("in-addr.arpa")?;
    let owner = if reverse.zone_of(qname) {
        reverse
    } else {
        apex.clone()
    };
    let soa = SOA::new(
        Name::from_ascii("ns.dns").ok()?.append_domain(&apex).ok()?,
        Name::from_ascii("hostmaster")
            .ok()?
            .append_domain(&apex)
            .ok()?,
        1,
        7200,
        1800,
        86400,
        TTL,
    );
    Some(Record::from_rdata(owner, TTL, RData::SOA(soa)))
}

#[async_trait::async_trait]
impl RequestHandler for ClusterDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        // Echo EDNS when the client sent it, so UDP answers may pass 512 bytes.
        let edns = request.edns.as_ref().map(|req| {
            let mut e = Edns::new();
            e.set_max_payload(req.max_payload().clamp(512, 1232));
            e
        });
        let builder = || {
            let mut b = MessageResponseBuilder::from_message_request(request);
            if let Some(e) = edns.as_ref() {
                b.edns(e);
            }
            b
        };
        if request.metadata.message_type != MessageType::Query
            || request.metadata.op_code != OpCode::Query
        {
            let resp = builder().error_msg(&request.metadata, ResponseCode::NotImp);
            return send(&mut response_handle, resp, &request.metadata).await;
        }
        let Ok(info) = request.request_info() else {
            let resp = builder().error_msg(&request.metadata, ResponseCode::FormErr);
            return send(&mut response_handle, resp, &request.metadata).await;
        };
        let qname: Name = info.query.original().name().clone();
        let zone = self.snapshot();
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.authoritative = true;
        meta.recursion_available = false;
        let negative = soa(&zone, &qname);
        match zone.lookup(&qname.to_ascii(), qtype(info.query.query_type())) {
            Answer::Records(data) => {
                let recs = records(&qname, &data);
                let resp = builder().build(meta, recs.iter(), [], [], []);
                send(&mut response_handle, resp, &request.metadata).await
            }
            Answer::NoData => {
                let resp = builder().build(meta, [], [], negative.iter(), []);
                send(&mut response_handle, resp, &request.metadata).await
            }
            Answer::NxDomain => {
                meta.response_code = ResponseCode::NXDomain;
                let resp = builder().build(meta, [], [], negative.iter(), []);
                send(&mut response_handle, resp, &request.metadata).await
            }
            // Nothing is forwarded (the lab has no upstream): NXDOMAIN at
            // once, not authoritative, which every resolver takes as "try
            // the next search domain" (REFUSED or SERVFAIL would stop dig's
            // search and make musl wait for its timeout).
            Answer::OutOfZone => {
                meta.authoritative = false;
                meta.response_code = ResponseCode::NXDomain;
                let resp = builder().build_no_records(meta);
                send(&mut response_handle, resp, &request.metadata).await
            }
        }
    }
}

async fn send<'a, R: ResponseHandler>(
    handle: &mut R,
    resp: MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    request: &Metadata,
) -> ResponseInfo {
    match handle.send_response(resp).await {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(error = %e, "could not send an answer");
            let mut m = Metadata::response_from_request(request);
            m.response_code = ResponseCode::ServFail;
            Header {
                metadata: m,
                counts: Default::default(),
            }
            .into()
        }
    }
}
