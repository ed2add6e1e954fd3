//! Per-client-IP rate limiting (GCRA: a sustained rate plus a burst) and the client IP
//! itself, which believes `X-Forwarded-For` only from configured proxies.
//!
//! The limiter is per process on purpose: it is flood protection for this instance, like
//! a proxy's `limit_req`. Limits that must hold across instances (login attempts) count in
//! the shared cache instead.

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The address of the client that sent the request, as far as we can trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Works out the client address: the peer, unless the peer is a trusted proxy, in which
/// case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.ip());
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // A hop we cannot read: stop believing the header from here on.
            Err(_) => break,
        }
    }
    peer_ip
}

const SHARDS: usize = 16;
const MAX_ENTRIES_PER_SHARD: usize = 65_536;

/// A GCRA limiter keyed by IP.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    shards: Vec<Mutex<HashMap<IpAddr, Instant>>>,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` extra; `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<Self> {
        if per_second == 0 {
            return None;
        }
        let interval = Duration::from_secs(1) / per_second;
        Some(RateLimiter {
            interval,
            tolerance: interval * burst,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        })
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, Instant>> {
        let h = match ip {
            IpAddr::V4(v4) => u32::from(*v4) as usize,
            IpAddr::V6(v6) => (u128::from(*v6) >> 64) as usize ^ (u128::from(*v6) as usize),
        };
        &self.shards[h % SHARDS]
    }

    /// `Ok` when the request may pass, or `Err(wait)` with how long until it could.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut map = self.shard(&ip).lock().unwrap_or_else(|e| e.into_inner());
        let tat = map.get(&ip).copied().unwrap_or(now).max(now);
        let ahead = tat - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        if map.len() >= MAX_ENTRIES_PER_SHARD && !map.contains_key(&ip) {
            // Forget clients that are fully caught up; if that frees nothing, let the
            // request through rather than grow without bound.
            map.retain(|_, t| *t > now);
            if map.len() >= MAX_ENTRIES_PER_SHARD {
                return Ok(());
            }
        }
        map.insert(ip, tat + self.interval);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn burst_then_sustained_rate() {
        let limiter = RateLimiter::new(10, 5).unwrap();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t0 = Instant::now();
        let passed = (0..20).filter(|_| limiter.check(ip, t0).is_ok()).count();
        assert_eq!(passed, 6, "one plus a burst of five");
        let wait = limiter.check(ip, t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limiter.check(ip, t0 + Duration::from_millis(100)).is_ok());
        // Another client is not affected.
        assert!(limiter.check("203.0.113.10".parse().unwrap(), t0).is_ok());
    }

    #[test]
    fn zero_rate_means_no_limiter() {
        assert!(RateLimiter::new(0, 10).is_none());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 198.51.100.7, 10.0.0.2"),
        );
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert_eq!(
            client_ip(Some(proxy), &headers, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(Some(stranger), &headers, &trusted), stranger.ip());
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &trusted), proxy.ip());
    }
}
