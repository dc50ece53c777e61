//! Connection requests, ACS side (TR-069 Amendment 6, 3.2.2): an HTTP GET to the CPE's
//! `ConnectionRequestURL`, answered 200 / 204 once authenticated. The first GET goes without
//! credentials; a 401 is answered with Digest (preferred) or Basic.

use crate::digest::{basic_header, Challenge};

/// Sends one connection request; `Ok` when the CPE accepted it.
pub(crate) async fn send(
    client: &reqwest::Client,
    url: &str,
    creds: Option<&(String, String)>,
    cnonce: &str,
) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad ConnectionRequestURL {url:?}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!("unsupported ConnectionRequestURL scheme {:?}", parsed.scheme()));
    }
    let first = client.get(parsed.clone()).send().await.map_err(|e| e.to_string())?;
    let status = first.status().as_u16();
    if status == 200 || status == 204 {
        return Ok(());
    }
    if status != 401 {
        return Err(format!("CPE answered {status}"));
    }
    let Some((user, pass)) = creds else {
        return Err("CPE asks for credentials and none are known".into());
    };
    let challenges: Vec<String> = first
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let uri = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let authorization = if let Some(c) = challenges.iter().find_map(|c| Challenge::parse(c)) {
        c.respond(user, pass, "GET", &uri, cnonce, 1)
    } else if challenges.iter().any(|c| c.trim_start().to_ascii_lowercase().starts_with("basic")) {
        basic_header(user, pass)
    } else {
        return Err("CPE sent no usable challenge".into());
    };
    let second = client
        .get(parsed)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match second.status().as_u16() {
        200 | 204 => Ok(()),
        s => Err(format!("CPE answered {s} to the authenticated request")),
    }
}

/// Sends a UDP connection request (Annex G) to `host:port`, three times as datagrams may be
/// lost; the CPE acts once per `id`.
pub(crate) async fn send_udp(addr: &str, id: u32, user: &str, pass: &str, cnonce: &str) -> Result<(), String> {
    let target = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("bad UDPConnectionRequestAddress {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("UDPConnectionRequestAddress {addr:?} does not resolve"))?;
    let bind: std::net::SocketAddr =
        if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let datagram = crate::udp_cr::encode(addr, ts, id, user, cnonce, pass);
    for _ in 0..3 {
        socket.send_to(&datagram, target).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}
