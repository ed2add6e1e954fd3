//! `USE WEBSITE`: a crawl of a small site served on loopback by axum (pages linked to
//! depth 3, a `robots.txt`, a redirect, an off-site link, an image, a page over 2 MiB),
//! indexed into `web-127.0.0.1-<port>` through the same path as files; a second crawl of
//! the unchanged site embeds nothing; a changed page is embedded alone; a page that
//! disappeared is removed. Loopback is a private address: the bot has
//! `http-allow-private=true`, and without it the crawl is refused before any request.

use crate::support::Env;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use botserver_vectordb::repo;
use botserver_vectordb::testing::TestDoubleEmbedder;
use botserver_vectordb::website::CrawlOpts;
use botstate::services::{KbQuery, KnowledgeBase};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The site's pages (path → (content type, body)) and every path requested.
#[derive(Default)]
struct SiteState {
    pages: HashMap<String, (&'static str, Vec<u8>)>,
    requested: Vec<String>,
}

type Site = Arc<Mutex<SiteState>>;

async fn serve_page(State(site): State<Site>, uri: Uri) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let mut s = site.lock().unwrap();
    s.requested.push(path.clone());
    if path == "/old" {
        return (StatusCode::FOUND, [(header::LOCATION, "/a")]).into_response();
    }
    if path == "/away" {
        return (StatusCode::FOUND, [(header::LOCATION, "http://example.invalid/")]).into_response();
    }
    match s.pages.get(&path) {
        Some((ctype, body)) => ([(header::CONTENT_TYPE, *ctype)], body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn html(title: &str, text: &str, links: &[&str]) -> (&'static str, Vec<u8>) {
    let a: String = links
        .iter()
        .map(|l| format!("<li><a href=\"{l}\">{l}</a></li>"))
        .collect();
    (
        "text/html; charset=utf-8",
        format!(
            "<html><head><title>{title}</title><script>var t = {};</script></head>\
             <body><h1>{title}</h1><p>{text}</p><ul>{a}</ul></body></html>",
            // Markup that changes on every build of the page does not make it new.
            rand_like()
        )
        .into_bytes(),
    )
}

fn rand_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A site: `/` links to `/a`, `/b` (text), `/private/secret` (disallowed), `/old` (a
/// redirect to `/a`), `/away` (a redirect off the site), an image, a big page and another
/// host; `/a` links to `/c`; `/c` links to `/d` (depth 3: never fetched).
async fn start_site() -> (String, Site) {
    let site: Site = Arc::default();
    {
        let mut s = site.lock().unwrap();
        s.pages.insert(
            "/robots.txt".into(),
            ("text/plain", b"User-agent: *\nDisallow: /private\n".to_vec()),
        );
        s.pages.insert(
            "/".into(),
            html(
                "Welcome",
                "The shop sells kettles and lamps.",
                &[
                    "/a",
                    "b.txt",
                    "/private/secret",
                    "/old",
                    "/away",
                    "/logo.png",
                    "/big",
                    "http://example.invalid/elsewhere",
                    "/a#section",
                    "mailto:shop@example.invalid",
                ],
            ),
        );
        s.pages.insert(
            "/a".into(),
            html(
                "Kettles",
                "The aurora kettle boils water in ninety seconds.",
                &["/c", "/"],
            ),
        );
        s.pages.insert(
            "/b.txt".into(),
            (
                "text/plain",
                b"Opening hours: nine to five, Monday to Friday.".to_vec(),
            ),
        );
        s.pages.insert(
            "/c".into(),
            html("Lamps", "The zenith lamp has three brightness levels.", &["/d"]),
        );
        s.pages
            .insert("/d".into(), html("Deep", "Too deep to be crawled.", &[]));
        s.pages.insert(
            "/private/secret".into(),
            html("Secret", "Nobody may read this.", &[]),
        );
        s.pages
            .insert("/logo.png".into(), ("image/png", vec![0x89, b'P', b'N', b'G']));
        s.pages
            .insert("/big".into(), ("text/html", vec![b'x'; 3 * 1024 * 1024]));
    }
    let app = axum::Router::new().fallback(serve_page).with_state(site.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), site)
}

fn requested(site: &Site) -> Vec<String> {
    site.lock().unwrap().requested.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_website_is_crawled_within_bounds_and_indexed_as_a_knowledge_base() {
    let (base, site) = start_site().await;
    let port = base.rsplit(':').next().unwrap().to_string();
    let env = Env::with_settings(&[("http-allow-private", "true")]);
    let llm = Arc::new(TestDoubleEmbedder::new(32));
    let (svc, _store) = env.start(llm.clone());

    let kb = svc.index_website(env.bot.id, format!("{base}/")).await.unwrap();
    assert_eq!(kb, format!("web-127.0.0.1-{port}"));
    let got = requested(&site);
    assert_eq!(got[0], "/robots.txt", "robots.txt first");
    for never in ["/private/secret", "/d"] {
        assert!(!got.iter().any(|p| p == never), "{never} was requested: {got:?}");
    }
    assert_eq!(
        got.iter().filter(|p| *p == "/a").count(),
        1,
        "a page is fetched once (a link with a fragment, a redirect to it): {got:?}"
    );
    let mut c = env.db.get().unwrap();
    let rows = repo::documents_of_kb(&mut c, &env.bot.id.to_string(), &kb).unwrap();
    let mut paths: Vec<String> = rows
        .iter()
        .map(|r| r.path.trim_start_matches(&base).to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, vec!["/", "/a", "/b.txt", "/c"], "{rows:?}");
    assert!(rows.iter().all(|r| r.status == repo::INDEXED));
    drop(c);

    // Found by BM25 and by the vectors, with the page's URL as the source.
    let hits = svc
        .search(KbQuery {
            bot: env.bot.id,
            kbs: vec![kb.clone()],
            query: "how fast does the aurora kettle boil".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits[0].source, format!("{base}/a"), "{hits:?}");
    assert_eq!(hits[0].location, "Kettles");

    // The same site again: every page fetched, nothing embedded.
    let texts = llm.texts();
    let r = svc
        .crawl_website(&env.bot, &format!("{base}/"), &CrawlOpts::default())
        .await
        .unwrap();
    assert_eq!(
        (r.index.indexed, r.index.unchanged, r.removed),
        (0, 4, 0),
        "{r:?}"
    );
    assert_eq!(llm.texts(), texts, "an unchanged page is not embedded again");

    // One page changes, one disappears: only the changed one is embedded; the gone one
    // (and what only it linked to) is removed.
    {
        let mut s = site.lock().unwrap();
        s.pages.insert(
            "/a".into(),
            html(
                "Kettles",
                "The aurora kettle now boils water in sixty seconds.",
                &["/"],
            ),
        );
        s.pages.remove("/b.txt");
    }
    llm.take_embedded();
    let r = svc
        .crawl_website(&env.bot, &format!("{base}/"), &CrawlOpts::default())
        .await
        .unwrap();
    assert_eq!(r.index.indexed, 1, "{r:?}");
    assert_eq!(r.removed, 2, "/b.txt is gone; /c is no longer linked: {r:?}");
    let mut embedded = llm.take_embedded();
    embedded.sort();
    let mut c = env.db.get().unwrap();
    let mut chunks_of_a: Vec<String> =
        repo::chunks_of(&mut c, &env.bot.id.to_string(), &kb, &format!("{base}/a"))
            .unwrap()
            .into_iter()
            .map(|c| c.text)
            .collect();
    drop(c);
    chunks_of_a.sort();
    assert!(chunks_of_a.iter().any(|t| t.contains("sixty seconds")));
    assert_eq!(embedded, chunks_of_a, "only the changed page was embedded");

    // The folder indexer leaves the web pages alone.
    let r = svc.index_bot(&env.bot, None).await.unwrap();
    assert_eq!((r.removed, r.indexed), (0, 0), "{r:?}");
    let mut c = env.db.get().unwrap();
    assert_eq!(
        repo::documents_of_kb(&mut c, &env.bot.id.to_string(), &kb)
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_site_is_refused_without_http_allow_private() {
    let (base, site) = start_site().await;
    let env = Env::new();
    let (svc, _store) = env.start(Arc::new(TestDoubleEmbedder::new(8)));
    for url in [
        format!("{base}/"),
        base.replace("127.0.0.1", "localhost"),
        "http://[::1]:9/".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://10.0.0.1/".to_string(),
    ] {
        let e = svc.index_website(env.bot.id, url.clone()).await.unwrap_err();
        assert!(e.to_string().contains("refused"), "{url}: {e}");
    }
    assert!(requested(&site).is_empty(), "no request reached the site");
    for bad in ["ftp://example.invalid/", "not a url", "http://user:pw@127.0.0.1/"] {
        assert!(svc.index_website(env.bot.id, bad.into()).await.is_err(), "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_stops_at_its_page_limit_and_then_removes_nothing() {
    let (base, site) = start_site().await;
    {
        let mut s = site.lock().unwrap();
        let many: Vec<String> = (0..30).map(|i| format!("/p{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        s.pages.insert("/".into(), html("Index", "Many pages.", &refs));
        for p in &many {
            s.pages
                .insert(p.clone(), html(p, &format!("Page {p} of the catalogue."), &[]));
        }
    }
    let env = Env::with_settings(&[("http-allow-private", "true")]);
    let (svc, _store) = env.start(Arc::new(TestDoubleEmbedder::new(8)));
    let opts = CrawlOpts {
        max_pages: 40,
        ..Default::default()
    };
    let r = svc
        .crawl_website(&env.bot, &format!("{base}/"), &opts)
        .await
        .unwrap();
    assert_eq!((r.fetched, r.index.indexed), (31, 31), "{r:?}");
    let small = CrawlOpts {
        max_pages: 5,
        ..Default::default()
    };
    let r = svc
        .crawl_website(&env.bot, &format!("{base}/"), &small)
        .await
        .unwrap();
    assert_eq!(r.fetched, 5);
    assert_eq!(r.truncated.as_deref(), Some("pages"));
    assert_eq!(r.removed, 0, "a truncated crawl does not know what is gone");
    // The robots.txt fetch is not a page; 1 + 31 + 1 + 5 requests in all.
    assert_eq!(requested(&site).len(), 38);
}
