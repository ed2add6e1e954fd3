//! `USE WEBSITE`: a bounded crawl of a website into a knowledge base of the bot
//! ([`KbService::crawl_website`], and `KnowledgeBase::index_website`, which the BASIC
//! keyword calls).
//!
//! The crawl starts at the given page and follows `<a href>` links breadth first, on the
//! same site only (same host and port; `http` to `https` on the same host with default
//! ports counts as the same site), at most [`CrawlOpts::max_depth`] links away (2), at
//! most [`CrawlOpts::max_pages`] pages fetched (50), each within 10 s and 2 MiB, the whole
//! crawl within 60 s. `robots.txt` is read first and obeyed (the `User-agent: *` group,
//! or a `botserver` group when there is one; `Allow`/`Disallow` with `*` and `$`, the
//! longest match winning and `Allow` winning a tie; a missing `robots.txt` (4xx) allows
//! everything, an unreachable one (5xx, network) stops the crawl, as RFC 9309 says).
//! Pages served as `text/html` (text taken by [`crate::extract::html`]) or `text/plain`
//! are indexed; anything else is skipped.
//!
//! Addresses are guarded as scripts' HTTP is: every address the host resolves to must be
//! public (loopback, private, link-local, CGNAT, unique-local, multicast, documentation-
//! and benchmark-reserved, IPv4-mapped forms of those… are refused) unless the bot's
//! `config.csv` says `http-allow-private=true`; the client then connects to exactly the
//! addresses checked (reqwest's `resolve_to_addrs`: no second lookup, so no DNS
//! rebinding), uses no proxy, and follows redirects by hand, only within the site.
//!
//! Pages go into the knowledge base `web-<host>` (`-<port>` added for a port that is not
//! the scheme's default), one document per URL, through the same path as files
//! ([`KbService::index_content`]): chunks in the database, BM25, embeddings. A page whose
//! extracted text is unchanged is not chunked or embedded again; a crawl that ran to its
//! end (no limit reached) removes the pages it no longer found, and pages that answered
//! 404 or 410 are removed in any case. The folder indexer never reads or removes these
//! documents (they have no file); it only embeds their stored chunks again when the bot's
//! embedding model changes. A crawl holds the knowledge base's indexing lock.

use crate::chunk::Section;
use crate::ingest::{Content, FileMeta, IndexReport, is_web_document};
use crate::kb::KbService;
use crate::repo::{self, DocumentRow};
use botlib::{AppError, AppResult};
use botstate::BotInfo;
use serde::Serialize;
use sha2::Digest;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use url::{Host, Url};

/// The limits of a crawl.
#[derive(Clone, Debug)]
pub struct CrawlOpts {
    /// Links followed from the first page (it is at depth 0).
    pub max_depth: usize,
    /// Pages fetched (`robots.txt` not counted).
    pub max_pages: usize,
    /// Largest page read, in bytes.
    pub max_page_bytes: usize,
    /// Time for one page, redirects included.
    pub page_timeout: Duration,
    /// Time for the whole crawl.
    pub total_timeout: Duration,
    /// Redirects followed for one page.
    pub max_redirects: usize,
}

impl Default for CrawlOpts {
    /// Depth 2, 50 pages, 2 MiB and 10 s a page, 60 s in all, 5 redirects.
    fn default() -> Self {
        CrawlOpts {
            max_depth: 2,
            max_pages: 50,
            max_page_bytes: 2 * 1024 * 1024,
            page_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            max_redirects: 5,
        }
    }
}

/// What a crawl did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CrawlReport {
    /// The knowledge base (`web-<host>`).
    pub kb: String,
    /// Pages requested.
    pub fetched: usize,
    /// Pages skipped: not HTML or text, too large, failed, or redirected off the site.
    pub skipped: usize,
    /// Links not followed because `robots.txt` disallows them.
    pub disallowed: usize,
    /// Pages removed from the knowledge base (gone from the site).
    pub removed: usize,
    /// Why the crawl stopped before it had seen everything (`pages`, `time`), if it did.
    pub truncated: Option<String>,
    /// What indexing did with the pages.
    pub index: IndexReport,
}

pub use botlib::net::{is_forbidden_ip, is_localhost_name};

/// The knowledge base of a site: `web-<host>`, with `-<port>` for a port that is not the
/// scheme's default; characters a folder name cannot have become `-`.
pub fn kb_name(url: &Url) -> String {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase();
    let mut name = format!("web-{host}");
    if let Some(port) = url.port() {
        name.push_str(&format!("-{port}"));
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Whether two URLs are on the same site (see the module's documentation).
fn same_site(a: &Url, b: &Url) -> bool {
    if !a
        .host_str()
        .unwrap_or_default()
        .eq_ignore_ascii_case(b.host_str().unwrap_or_default())
    {
        return false;
    }
    if a.scheme() == b.scheme() {
        return a.port_or_known_default() == b.port_or_known_default();
    }
    // http ↔ https on the same host, both on their default ports.
    a.port().is_none() && b.port().is_none()
}

/// A URL as the crawl keys it: the fragment dropped.
fn normalized(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// The rules of `robots.txt` that apply to this crawler.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Robots {
    /// `(allow, pattern)`.
    rules: Vec<(bool, String)>,
}

impl Robots {
    /// Everything allowed.
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Everything disallowed.
    pub fn disallow_all() -> Robots {
        Robots {
            rules: vec![(false, "/".into())],
        }
    }

    /// The rules of the `botserver` group when there is one, else of the `*` group
    /// (groups naming either are merged).
    pub fn parse(text: &str) -> Robots {
        let mut ours: Vec<(bool, String)> = Vec::new();
        let mut star: Vec<(bool, String)> = Vec::new();
        let mut agents: Vec<String> = Vec::new();
        let mut in_rules = false;
        let mut named_us = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let (key, value) = (key.trim().to_ascii_lowercase(), value.trim());
            match key.as_str() {
                "user-agent" => {
                    if in_rules {
                        agents.clear();
                        in_rules = false;
                    }
                    agents.push(value.to_ascii_lowercase());
                }
                "allow" | "disallow" => {
                    in_rules = true;
                    if value.is_empty() {
                        // `Disallow:` with nothing allows everything; `Allow:` says nothing.
                        continue;
                    }
                    let rule = (key == "allow", value.to_string());
                    if agents.iter().any(|a| a == "botserver") {
                        named_us = true;
                        ours.push(rule.clone());
                    }
                    if agents.iter().any(|a| a == "*") {
                        star.push(rule);
                    }
                }
                _ => {}
            }
        }
        Robots {
            rules: if named_us { ours } else { star },
        }
    }

    /// Whether `path` (path and query) may be fetched.
    pub fn allows(&self, path: &str) -> bool {
        let mut best: Option<(usize, bool)> = None;
        for (allow, pattern) in &self.rules {
            if pattern_matches(pattern, path) {
                let len = pattern.len();
                best = match best {
                    Some((l, a)) if l > len || (l == len && a) => Some((l, a)),
                    _ => Some((len, *allow)),
                };
            }
        }
        best.is_none_or(|(_, allow)| allow)
    }
}

/// A `robots.txt` pattern: a path prefix where `*` matches any run of characters and a
/// final `$` anchors the end.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let parts: Vec<&str> = pattern.split('*').collect();
    let Some(first) = parts.first() else {
        return true;
    };
    if !path.starts_with(first) {
        return false;
    }
    let mut pos = first.len();
    if parts.len() == 1 {
        return !anchored || pos == path.len();
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        if i == parts.len() - 1 && anchored {
            return path.len() >= pos + part.len() && path.ends_with(part);
        }
        match path[pos..].find(part) {
            Some(at) => pos += at + part.len(),
            None => return false,
        }
    }
    true
}

/// The `http(s)` targets of a page's `<a href>` links, resolved against `base`, fragments
/// dropped, in order, without repeats.
pub fn links(html: &str, base: &Url) -> Vec<Url> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut i = 0;
    while let Some(at) = lower[i..].find("<a") {
        let start = i + at;
        i = start + 2;
        // `<a` followed by a space-like character, not `<abbr`.
        if !lower[i..].starts_with(|c: char| c.is_ascii_whitespace()) {
            continue;
        }
        let Some(end) = lower[i..].find('>').map(|e| i + e) else {
            break;
        };
        let tag = &html[i..end];
        let tag_lower = &lower[i..end];
        i = end;
        let Some(h) = find_attr(tag_lower, "href") else {
            continue;
        };
        let rest = tag[h..].trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default(),
        };
        let value = crate::extract::decode_entities(value.trim());
        let Ok(url) = base.join(&value) else {
            continue;
        };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        let url = normalized(url);
        if seen.insert(url.to_string()) {
            out.push(url);
        }
    }
    out
}

/// Where the value of attribute `name` starts in a lower-cased tag (after `name=`).
fn find_attr(tag: &str, name: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = tag[from..].find(name) {
        let start = from + at;
        from = start + name.len();
        let before_ok = start == 0 || tag[..start].ends_with(|c: char| c.is_ascii_whitespace());
        let after = tag[from..].trim_start();
        if before_ok && after.starts_with('=') {
            let eq = tag.len() - after.len();
            return Some(eq + 1);
        }
    }
    None
}

/// Resolves `host` and checks every address (see the module's documentation).
async fn checked_addrs(url: &Url, allow_private: bool) -> AppResult<Vec<SocketAddr>> {
    let refused = |what: &str, addr: &str| {
        AppError::bad_request(format!(
            "refused: {what} is {addr}, a private or local address (set http-allow-private=true in the bot's config.csv to allow it)"
        ))
    };
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = match url.host() {
        None => return Err(AppError::bad_request(format!("{url} has no host"))),
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => {
            if !allow_private && is_localhost_name(name) {
                return Err(refused(name, name));
            }
            tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| AppError::bad_request(format!("{name} does not resolve: {e}")))?
                .collect()
        }
    };
    if addrs.is_empty() {
        return Err(AppError::bad_request(format!("{url} has no addresses")));
    }
    if !allow_private && let Some(bad) = addrs.iter().find(|a| is_forbidden_ip(a.ip())) {
        return Err(refused(url.host_str().unwrap_or_default(), &bad.ip().to_string()));
    }
    Ok(addrs)
}

/// What fetching a page gave.
enum Fetched {
    /// A page to index: its final URL, whether it is HTML, its body.
    Page { url: Url, html: bool, body: Vec<u8> },
    /// 404 or 410: the page is gone.
    Gone,
    /// Not indexed (the reason is logged).
    Skipped(String),
}

/// A client for one site, connected to the checked addresses only.
struct Site {
    client: reqwest::Client,
    start: Url,
    opts: CrawlOpts,
}

impl Site {
    async fn new(start: &Url, allow_private: bool, opts: &CrawlOpts) -> AppResult<Site> {
        let addrs = checked_addrs(start, allow_private).await?;
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(opts.page_timeout)
            .user_agent(concat!(
                "botserver/",
                env!("CARGO_PKG_VERSION"),
                " (knowledge-base crawler)"
            ));
        if let Some(Host::Domain(name)) = start.host() {
            // Port 0: the URL's port is used, so https on the same host works too.
            let pinned: Vec<SocketAddr> = addrs.iter().map(|a| SocketAddr::new(a.ip(), 0)).collect();
            b = b.resolve_to_addrs(name, &pinned);
        }
        let client = b
            .build()
            .map_err(|e| AppError::internal(anyhow::anyhow!("crawler client: {e}")))?;
        Ok(Site {
            client,
            start: start.clone(),
            opts: opts.clone(),
        })
    }

    /// Fetches `url` within `deadline`, following redirects within the site and `robots`,
    /// and not to a page in `seen` (it is fetched under its own URL).
    async fn fetch(&self, url: &Url, robots: &Robots, seen: &HashSet<String>, deadline: Instant) -> Fetched {
        let max_bytes = self.opts.max_page_bytes;
        let mut url = url.clone();
        for hop in 0..=self.opts.max_redirects {
            if hop > 0 && seen.contains(url.as_str()) {
                return Fetched::Skipped(format!("redirected to {url}, a page already known"));
            }
            if !same_site(&url, &self.start) {
                return Fetched::Skipped(format!("redirected off the site, to {url}"));
            }
            if !robots.allows(&path_and_query(&url)) {
                return Fetched::Skipped(format!("redirected to {url}, which robots.txt disallows"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Fetched::Skipped("out of time".into());
            }
            let sent = self
                .client
                .get(url.clone())
                .timeout(left.min(self.opts.page_timeout))
                .send()
                .await;
            let mut resp = match sent {
                Ok(r) => r,
                Err(e) => return Fetched::Skipped(format!("request failed: {e}")),
            };
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                match next {
                    Some(n) => {
                        url = normalized(n);
                        continue;
                    }
                    None => return Fetched::Skipped(format!("{status} without a usable Location")),
                }
            }
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                return Fetched::Gone;
            }
            if !status.is_success() {
                return Fetched::Skipped(format!("answered {status}"));
            }
            let ctype = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/html")
                .to_ascii_lowercase();
            let html = ctype.starts_with("text/html") || ctype.starts_with("application/xhtml");
            if !html && !ctype.starts_with("text/plain") {
                return Fetched::Skipped(format!("not HTML or text ({ctype})"));
            }
            if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
                return Fetched::Skipped(format!("over {max_bytes} bytes"));
            }
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(c)) => {
                        if body.len() + c.len() > max_bytes {
                            return Fetched::Skipped(format!("over {max_bytes} bytes"));
                        }
                        body.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => return Fetched::Skipped(format!("reading the body failed: {e}")),
                }
            }
            return Fetched::Page { url, html, body };
        }
        Fetched::Skipped("too many redirects".into())
    }

    /// The site's `robots.txt` (RFC 9309: 4xx allows everything; 5xx or no answer
    /// disallows everything).
    async fn robots(&self, deadline: Instant) -> Robots {
        let Ok(url) = self.start.join("/robots.txt") else {
            return Robots::allow_all();
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let sent = self
            .client
            .get(url)
            .timeout(left.min(self.opts.page_timeout))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => match r.bytes().await {
                Ok(b) if b.len() <= 512 * 1024 => Robots::parse(&String::from_utf8_lossy(&b)),
                _ => Robots::allow_all(),
            },
            Ok(r) if r.status().is_client_error() || r.status().is_redirection() => Robots::allow_all(),
            _ => Robots::disallow_all(),
        }
    }
}

fn path_and_query(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The text of a page and the hash that says whether it changed (of the text, not the
/// bytes, so markup that changes on every request does not make the page new).
fn page_text(html: bool, body: &[u8]) -> (Vec<Section>, String) {
    let text = String::from_utf8_lossy(body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)).into_owned();
    let sections = if html {
        crate::extract::html(&text)
    } else {
        vec![Section::new("", text.trim())]
    };
    let mut h = sha2::Sha256::new();
    for s in &sections {
        h.update(s.location.as_bytes());
        h.update([0]);
        h.update(s.text.as_bytes());
        h.update([0]);
    }
    (sections, crate::embedded::hex(&h.finalize()))
}

impl KbService {
    /// Crawls the site of `start` into the bot's knowledge base `web-<host>` (see the
    /// module's documentation).
    pub async fn crawl_website(
        &self,
        bot: &BotInfo,
        start: &str,
        opts: &CrawlOpts,
    ) -> AppResult<CrawlReport> {
        let start = Url::parse(start.trim())
            .map_err(|e| AppError::bad_request(format!("`{start}` is not a URL: {e}")))?;
        if !matches!(start.scheme(), "http" | "https") {
            return Err(AppError::bad_request(
                "USE WEBSITE takes http and https URLs only",
            ));
        }
        if !start.username().is_empty() || start.password().is_some() {
            return Err(AppError::bad_request("a website URL may not carry credentials"));
        }
        let start = normalized(start);
        let allow_private = bot
            .get("http-allow-private")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let kb = kb_name(&start);
        let deadline = Instant::now() + opts.total_timeout;
        let site = Site::new(&start, allow_private, opts).await?;

        let lock_name = format!("kb-index:{}:{kb}", bot.id);
        let lock = self
            .deps
            .cache
            .try_lock(&lock_name, self.opts.lock_ttl)
            .await?
            .ok_or_else(|| AppError::Conflict(format!("{kb} is being indexed; try again shortly")))?;
        let result = self.crawl_locked(bot, &kb, &site, &start, &lock, deadline).await;
        if let Err(e) = self.deps.cache.unlock(&lock).await {
            tracing::warn!(error = %e, lock = %lock_name, "releasing the indexing lock failed");
        }
        let report = result?;
        tracing::info!(
            bot = %bot.name,
            kb = %report.kb,
            fetched = report.fetched,
            indexed = report.index.indexed,
            unchanged = report.index.unchanged,
            removed = report.removed,
            truncated = report.truncated.as_deref().unwrap_or("no"),
            "website crawled"
        );
        Ok(report)
    }

    async fn crawl_locked(
        &self,
        bot: &BotInfo,
        kb: &str,
        site: &Site,
        start: &Url,
        lock: &botstate::LockToken,
        deadline: Instant,
    ) -> AppResult<CrawlReport> {
        let opts = &site.opts;
        let mut report = CrawlReport {
            kb: kb.to_string(),
            ..Default::default()
        };
        let robots = site.robots(deadline).await;
        if !robots.allows(&path_and_query(start)) {
            return Err(AppError::bad_request(format!(
                "{start} is disallowed by the site's robots.txt"
            )));
        }
        let (b, k) = (bot.id.to_string(), kb.to_string());
        let rows = self
            .deps
            .db
            .run(move |c| repo::documents_of_kb(c, &b, &k))
            .await?;
        let mut rows: HashMap<String, DocumentRow> = rows
            .into_iter()
            .filter(|r| is_web_document(&r.path))
            .map(|r| (r.path.clone(), r))
            .collect();
        // Every URL found on the site (fetched or not), and the pages indexed.
        let mut seen: HashSet<String> = HashSet::from([start.to_string()]);
        let mut gone: Vec<String> = Vec::new();
        let mut queue: VecDeque<(Url, usize)> = VecDeque::from([(start.clone(), 0)]);
        while let Some((url, depth)) = queue.pop_front() {
            if report.fetched >= opts.max_pages {
                report.truncated = Some("pages".into());
                break;
            }
            if Instant::now() >= deadline {
                report.truncated = Some("time".into());
                break;
            }
            report.fetched += 1;
            let (page_url, html, body) = match site.fetch(&url, &robots, &seen, deadline).await {
                Fetched::Page { url, html, body } => (url, html, body),
                Fetched::Gone => {
                    gone.push(url.to_string());
                    report.skipped += 1;
                    continue;
                }
                Fetched::Skipped(why) => {
                    tracing::debug!(url = %url, why, "crawler skipped a page");
                    report.skipped += 1;
                    continue;
                }
            };
            // A page reached through a redirect is stored under its own URL, which is
            // then known, so it is not fetched again.
            seen.insert(page_url.to_string());
            let path = page_url.to_string();
            let body_len = body.len();
            let ((sections, hash), found) = tokio::task::spawn_blocking(move || {
                let text = String::from_utf8_lossy(&body).into_owned();
                let found = if html { links(&text, &page_url) } else { Vec::new() };
                (page_text(html, &body), found)
            })
            .await
            .map_err(AppError::internal)?;
            if depth < opts.max_depth {
                for link in found {
                    if !same_site(&link, start) || !seen.insert(link.to_string()) {
                        continue;
                    }
                    if robots.allows(&path_and_query(&link)) {
                        queue.push_back((link, depth + 1));
                    } else {
                        report.disallowed += 1;
                    }
                }
            }
            if sections.iter().all(|s| s.text.trim().is_empty()) {
                report.skipped += 1;
                continue;
            }
            let now = self.now_ms();
            let row = rows.remove(&path).unwrap_or_else(|| {
                let meta = FileMeta {
                    path: path.clone(),
                    full: Default::default(),
                    size: body_len as i64,
                    mtime_ms: now,
                };
                Self::new_row(bot, kb, &meta, now)
            });
            let content = Content {
                size: body_len as i64,
                mtime_ms: now,
                hash,
                extract: Box::new(move || Ok(sections)),
            };
            self.index_content(bot, kb, content, row, &mut report.index)
                .await?;
            if !self.deps.cache.extend_lock(lock, self.opts.lock_ttl).await? {
                return Err(AppError::Conflict(format!("the indexing lock of {kb} was lost")));
            }
        }
        if report.truncated.is_none() && !queue.is_empty() {
            report.truncated = Some("pages".into());
        }
        // Pages gone for sure, and, after a crawl that saw everything, pages not found.
        let mut remove: Vec<DocumentRow> = gone.iter().filter_map(|u| rows.remove(u)).collect();
        if report.truncated.is_none() {
            remove.extend(rows.into_values().filter(|r| !seen.contains(&r.path)));
        }
        for row in remove {
            self.remove_document(bot, &row).await?;
            report.removed += 1;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_rules_take_the_longest_match_and_our_group_first() {
        let r = Robots::parse(
            "# comment\nUser-agent: other\nDisallow: /\n\nUser-agent: *\nDisallow: /private\nAllow: /private/ok\nDisallow: /*.pdf$\nDisallow:\n",
        );
        assert!(r.allows("/"));
        assert!(r.allows("/public/page"));
        assert!(!r.allows("/private"));
        assert!(!r.allows("/private/x"));
        assert!(r.allows("/private/ok/page"));
        assert!(!r.allows("/docs/a.pdf"));
        assert!(r.allows("/docs/a.pdf?x=1"));
        let ours = Robots::parse(
            "User-agent: *\nDisallow: /\n\nUser-agent: BotServer\nUser-agent: x\nDisallow: /no\n",
        );
        assert!(ours.allows("/yes") && !ours.allows("/no/1"));
        assert!(Robots::parse("").allows("/anything"));
        assert!(!Robots::disallow_all().allows("/"));
        let tie = Robots::parse("User-agent: *\nDisallow: /a\nAllow: /a\n");
        assert!(tie.allows("/a"), "allow wins a tie");
    }

    #[test]
    fn robots_patterns_support_wildcards_and_anchors() {
        assert!(pattern_matches("/a*b", "/a/x/b/c"));
        assert!(!pattern_matches("/a*b$", "/a/x/b/c"));
        assert!(pattern_matches("/a*b$", "/a/x/b"));
        assert!(pattern_matches("/exact$", "/exact"));
        assert!(!pattern_matches("/exact$", "/exact/more"));
        assert!(pattern_matches("*", "/anything"));
    }

    #[test]
    fn links_are_resolved_deduplicated_and_http_only() {
        let base = Url::parse("https://example.com/docs/index.html").unwrap();
        let html = r#"<p><a href="a.html">A</a> <A HREF='/b?x=1&amp;y=2#top'>B</A>
            <a class="x" href=c.html>C</a> <a href="a.html#again">A again</a>
            <a href="mailto:x@example.com">m</a> <a href="javascript:void(0)">j</a>
            <abbr href="nope">no</abbr> <a name="n">no href</a>
            <a href="https://other.example/z">other</a></p>"#;
        let got: Vec<String> = links(html, &base).iter().map(Url::to_string).collect();
        assert_eq!(
            got,
            vec![
                "https://example.com/docs/a.html",
                "https://example.com/b?x=1&y=2",
                "https://example.com/docs/c.html",
                "https://other.example/z",
            ]
        );
    }

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "ff02::1",
        ] {
            assert!(is_forbidden_ip(a.parse().unwrap()), "{a}");
        }
        for a in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_forbidden_ip(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn knowledge_base_names_come_from_the_host_and_a_special_port() {
        assert_eq!(
            kb_name(&Url::parse("https://Docs.Example.com/x").unwrap()),
            "web-docs.example.com"
        );
        assert_eq!(
            kb_name(&Url::parse("http://127.0.0.1:8080/").unwrap()),
            "web-127.0.0.1-8080"
        );
        assert_eq!(kb_name(&Url::parse("http://[::1]:81/").unwrap()), "web---1-81");
        assert!(crate::ingest::valid_component(&kb_name(
            &Url::parse("http://[::1]:81/").unwrap()
        )));
    }

    #[test]
    fn the_same_site_is_the_same_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_site(&u("http://a.com/x"), &u("http://A.com:80/y")));
        assert!(same_site(&u("http://a.com/x"), &u("https://a.com/y")));
        assert!(!same_site(&u("http://a.com/x"), &u("http://a.com:8080/y")));
        assert!(!same_site(&u("http://a.com/x"), &u("http://b.a.com/x")));
    }

    #[test]
    fn a_page_hash_follows_its_text_not_its_markup() {
        let (_, a) = page_text(true, b"<p>Hello <b>world</b></p><script>var n=1</script>");
        let (_, b) = page_text(
            true,
            b"<p class='x'>Hello <b>world</b></p><script>var n=2</script>",
        );
        let (_, c) = page_text(true, b"<p>Hello there</p>");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
