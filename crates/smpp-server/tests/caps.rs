//! 8. Connection caps: total and per peer IP.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Client, TestBackend, config, start};
use tokio::net::{TcpSocket, TcpStream};
use tongdao_smpp::Pdu;
use tongdao_smpp_server::ServerConfig;

async fn answers(client: &mut Client<TcpStream>) -> bool {
    client.send(Pdu::EnquireLink).await;
    client.try_recv(Duration::from_secs(1)).await.is_some_and(|c| c.pdu == Pdu::EnquireLinkResp)
}

#[tokio::test]
async fn connections_over_the_total_cap_are_closed_at_once() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { max_connections: 2, ..config() }).await;
    let mut first = Client::connect(server.local_addr()).await;
    let mut second = Client::connect(server.local_addr()).await;
    assert!(answers(&mut first).await && answers(&mut second).await);
    let mut third = Client::connect(server.local_addr()).await;
    assert!(third.closed_within(Duration::from_secs(1)).await, "over the cap: closed");
    let stats = server.stats();
    assert_eq!((stats.connections_open, stats.connections_refused, stats.connections_total), (2, 1, 2));
    drop(first);
    common::eventually("the first connection closed", || server.stats().connections_open == 1).await;
    let mut fourth = Client::connect(server.local_addr()).await;
    assert!(answers(&mut fourth).await, "a freed place is taken again");
}

#[tokio::test]
async fn connections_over_the_per_ip_cap_are_closed_at_once_and_other_ips_are_not_counted() {
    let backend = Arc::new(TestBackend::new());
    let server = start(&backend, ServerConfig { max_connections_per_ip: 1, ..config() }).await;
    let mut first = Client::connect(server.local_addr()).await;
    assert!(answers(&mut first).await);
    let mut second = Client::connect(server.local_addr()).await;
    assert!(second.closed_within(Duration::from_secs(1)).await, "a second one from the same IP is closed");
    assert_eq!(server.stats().connections_refused, 1);
    // From another loopback address (Linux routes all of 127/8 to lo).
    let socket = TcpSocket::new_v4().unwrap();
    if socket.bind(SocketAddr::from(([127, 0, 0, 2], 0))).is_ok() {
        let mut other = Client::over(socket.connect(server.local_addr()).await.unwrap());
        assert!(answers(&mut other).await, "another IP has its own count");
        assert_eq!(server.stats().connections_refused, 1);
    }
}
