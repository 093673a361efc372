//! The server's own connections to PostgreSQL and Redis.

use crate::helpers::*;
use crate::team::visitor_writes;

/// Nagle's algorithm holds the tail of a write until the peer has acknowledged what went before, and
/// PostgreSQL and Redis may delay that ACK by up to 40 ms: sqlx 0.9.0 and redis-rs both left it on, which
/// held every large shared commit on PostgreSQL for ~40 ms (widget acks at 10k/s: p50 163 ms instead of
/// 16). So once the server has done some work, every TCP connection it holds to either has TCP_NODELAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_and_redis_connections_send_without_waiting_for_acks() {
    let Some(app) = spawn_app(Backend::Postgres).await else { return };
    let tenant = app.new_tenant(&["chatbot"]).await;
    let key = app.chat_key(&tenant).await;
    let _visitor = visitor_writes(&app, &key, "hello").await;

    for variable in ["DATABASE_ADMIN_URL", "TEST_REDIS_URL"] {
        let url = std::env::var(variable).expect("set whenever the PostgreSQL case runs");
        let port = reqwest::Url::parse(&url).ok().and_then(|u| u.port()).expect("the URL names its port");
        let sockets = sockets_to(port);
        assert!(!sockets.is_empty(), "the server holds no connection to {variable}'s port {port}");
        for fd in sockets {
            assert_eq!(nodelay(fd), Some(true), "a connection to {variable}'s port {port} waits for ACKs (Nagle)");
        }
    }
}

/// This process's TCP sockets connected to `port` (on any address).
fn sockets_to(port: u16) -> Vec<i32> {
    let fds = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd lists this process's descriptors");
    let fds = fds.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok());
    fds.filter(|fd| peer_port(*fd) == Some(port)).collect()
}

/// The remote port of descriptor `fd` if it is a connected IPv4 or IPv6 socket.
fn peer_port(fd: i32) -> Option<u16> {
    // SAFETY: an all-zero sockaddr_storage is valid; getpeername writes at most `len` bytes into it and
    // fails on a descriptor that is not a connected socket (or no longer open), which is then skipped.
    let mut address: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let read = unsafe { libc::getpeername(fd, (&raw mut address).cast(), &mut len) };
    if read != 0 {
        return None;
    }
    match i32::from(address.ss_family) {
        // SAFETY: the family says which sockaddr the storage holds; both start with their port.
        libc::AF_INET => Some(u16::from_be(unsafe { (*(&raw const address).cast::<libc::sockaddr_in>()).sin_port })),
        libc::AF_INET6 => Some(u16::from_be(unsafe { (*(&raw const address).cast::<libc::sockaddr_in6>()).sin6_port })),
        _ => None,
    }
}

/// Whether TCP_NODELAY is set on socket `fd` (`None` if it could not be read).
fn nodelay(fd: i32) -> Option<bool> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`, an int as TCP_NODELAY's is.
    let read = unsafe { libc::getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, (&raw mut value).cast(), &mut len) };
    (read == 0).then_some(value != 0)
}
