//! The server over real UDP and TCP sockets on loopback: queries encoded
//! and answers decoded with hickory's own message type, as a resolver
//! would send them.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use hickory_server::Server;
use podnet_core::services::dns::{DnsKind, DnsService, Zone};
use podnet_core::topology::Protocol;
use podnet_dns::answer::ClusterDns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn zone(web: Ipv4Addr) -> Zone {
    let services = [
        DnsService {
            namespace: "default".into(),
            name: "web".into(),
            kind: DnsKind::ClusterIp(web),
            ports: vec![("http".into(), Protocol::Tcp, 80)],
        },
        DnsService {
            namespace: "e2e".into(),
            name: "ext".into(),
            kind: DnsKind::ExternalName("foo.example.com".into()),
            ports: vec![],
        },
    ];
    Zone::new("cluster.local", &services, ["default".into(), "e2e".into()])
}

async fn start(zone: Zone) -> (SocketAddr, ClusterDns) {
    let handler = ClusterDns::new(zone);
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind(addr).await.unwrap();
    let mut server = Server::new(handler.clone());
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 16);
    tokio::spawn(async move { server.block_until_done().await });
    (addr, handler)
}

fn query(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    m.set_edns(e);
    m.to_vec().unwrap()
}

async fn udp(addr: SocketAddr, name: &str, t: RecordType) -> Message {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&query(name, t), addr).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.recv(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

async fn tcp(addr: SocketAddr, name: &str, t: RecordType) -> Message {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let q = query(name, t);
    s.write_all(&(q.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(&q).await.unwrap();
    let len = s.read_u16().await.unwrap() as usize;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.unwrap();
    Message::from_vec(&buf).unwrap()
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn answers_over_udp_and_tcp_as_the_model_says_and_follows_a_swap() {
    let first = Ipv4Addr::new(10, 96, 0, 20);
    let (addr, handler) = start(zone(first)).await;
    for m in [
        udp(addr, "web.default.svc.cluster.local.", RecordType::A).await,
        tcp(addr, "WEB.default.svc.cluster.local.", RecordType::A).await,
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(addresses(&m), vec![first]);
    }
    let srv = udp(
        addr,
        "_http._tcp.web.default.svc.cluster.local.",
        RecordType::SRV,
    )
    .await;
    assert!(matches!(&srv.answers[0].data,
        RData::SRV(s) if s.port == 80 && s.target.to_string() == "web.default.svc.cluster.local."));
    let ptr = udp(addr, "20.0.96.10.in-addr.arpa.", RecordType::PTR).await;
    assert!(matches!(&ptr.answers[0].data,
        RData::PTR(p) if p.0.to_string() == "web.default.svc.cluster.local."));
    let cname = udp(addr, "ext.e2e.svc.cluster.local.", RecordType::CNAME).await;
    assert!(
        matches!(&cname.answers[0].data, RData::CNAME(c) if c.0.to_string() == "foo.example.com.")
    );
    let pod = udp(addr, "10-244-1-5.e2e.pod.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&pod), vec![Ipv4Addr::new(10, 244, 1, 5)]);
    // The name exists without AAAA: NOERROR, nothing, the SOA.
    let nodata = udp(addr, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert!(nodata
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA));
    let missing = udp(addr, "nosuch.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.metadata.authoritative);
    // Outside the zone: NXDOMAIN at once, not authoritative (nothing forwarded).
    let outside = udp(addr, "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
    assert!(!outside.metadata.authoritative);
    // A Service recreated with another ClusterIP: the next answer has it.
    let second = Ipv4Addr::new(10, 96, 0, 21);
    handler.swap(zone(second));
    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m), vec![second]);
}

#[tokio::test]
async fn garbage_gets_an_error_or_nothing_and_the_server_keeps_answering() {
    let (addr, _) = start(zone(Ipv4Addr::new(10, 96, 0, 20))).await;
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [
        &b""[..],
        b"\x12",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ] {
        s.send_to(junk, addr).await.unwrap();
    }
    let m = udp(addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m), vec![Ipv4Addr::new(10, 96, 0, 20)]);
}
