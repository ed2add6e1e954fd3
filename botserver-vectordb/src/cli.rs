//! `botserver kb index <bot>` and `botserver kb search <bot> "<question>"`: the commands'
//! logic, called by the binary with the installed module (bots are in `state.bots` once
//! the engine's module has installed).
//!
//! `index` stops the background indexer of this process, then runs passes in the
//! foreground until every knowledge base of the bot is done (waiting while another
//! instance holds a knowledge base's lock), drawing a progress bar on standard error. A
//! document that fails is retried by later passes with back-off; the command lists the
//! failures and exits non-zero when there are any.

use crate::KbModule;
use crate::ingest::{IndexReport, Progress};
use crate::repo;
use botstate::services::KbQuery;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// A progress bar: `[#####-----] 12/40 kb: path`, redrawn in place.
pub fn progress_line(p: &Progress, width: usize) -> String {
    let filled = (p.done * width).checked_div(p.total).unwrap_or(width).min(width);
    let mut path = p.path.clone();
    if path.chars().count() > 40 {
        let tail: String = path
            .chars()
            .rev()
            .take(39)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        path = format!("…{tail}");
    }
    format!(
        "[{}{}] {}/{} {}: {}",
        "#".repeat(filled),
        "-".repeat(width - filled),
        p.done,
        p.total,
        p.kb,
        path
    )
}

/// Indexes every knowledge base of `bot` to completion; returns the summary, or an error
/// listing the documents that failed.
pub async fn index(m: &KbModule, bot: &str, progress: &mut (dyn Write + Send)) -> Result<String, String> {
    m.background.cancel();
    let svc = &m.service;
    let info = svc
        .bots()
        .by_name(bot)
        .ok_or_else(|| format!("no bot named {bot} (is its <name>.gbai folder in the bots folder?)"))?;
    let out = Mutex::new(progress);
    let draw = |p: &Progress| {
        if let Ok(mut o) = out.lock() {
            let _ = write!(o, "\r\x1b[2K{}", progress_line(p, 30));
            let _ = o.flush();
        }
    };
    let mut total = IndexReport::default();
    let mut waited = 0;
    loop {
        let r = svc
            .index_bot(&info, Some(&draw))
            .await
            .map_err(|e| e.public_message())?;
        total.indexed += r.indexed;
        total.reembedded += r.reembedded;
        total.removed += r.removed;
        total.failed += r.failed;
        total.chunks += r.chunks;
        total.embedded += r.embedded;
        total.unchanged = r.unchanged;
        total.waiting = r.waiting;
        if r.locked == 0 {
            break;
        }
        if waited == 0 {
            let _ = writeln!(
                out.lock().map_err(|_| "progress output")?,
                "another instance is indexing; waiting"
            );
        }
        waited += 1;
        if waited > 600 {
            return Err("another instance kept the knowledge base locked for 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let _ = writeln!(out.lock().map_err(|_| "progress output")?);
    svc.sync_lexical(info.id).await.map_err(|e| e.public_message())?;
    let b = info.id.to_string();
    let rows = svc
        .db()
        .run(move |c| repo::documents(c, &b))
        .await
        .map_err(|e| e.public_message())?;
    let mut summary = format!(
        "{}: {} indexed, {} embedded again, {} unchanged, {} removed, {} chunks written, {} texts embedded\n",
        info.name,
        total.indexed,
        total.reembedded,
        total.unchanged,
        total.removed,
        total.chunks,
        total.embedded
    );
    let bad: Vec<_> = rows.iter().filter(|r| r.last_error.is_some()).collect();
    for r in &bad {
        summary.push_str(&format!(
            "{} {}/{}: {} (attempt {})\n",
            r.status,
            r.kb,
            r.path,
            r.last_error.as_deref().unwrap_or_default(),
            r.attempts
        ));
    }
    if bad.is_empty() { Ok(summary) } else { Err(summary) }
}

/// Searches the bot's knowledge bases; one block per passage.
pub async fn search(m: &KbModule, bot: &str, question: &str, top_k: Option<usize>) -> Result<String, String> {
    let svc = &m.service;
    let info = svc
        .bots()
        .by_name(bot)
        .ok_or_else(|| format!("no bot named {bot}"))?;
    let passages = svc
        .search_bot(
            &info,
            &KbQuery {
                bot: info.id,
                kbs: Vec::new(),
                query: question.to_string(),
                top_k,
            },
        )
        .await
        .map_err(|e| e.public_message())?;
    if passages.is_empty() {
        return Ok("no passages found\n".into());
    }
    let mut out = String::new();
    for (i, p) in passages.iter().enumerate() {
        out.push_str(&format!(
            "{}. [{:.3}] {}/{} ({})\n{}\n\n",
            i + 1,
            p.score,
            p.kb,
            p.source,
            p.location,
            p.text.trim()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_fills_and_shortens_long_paths() {
        let p = Progress {
            kb: "faq".into(),
            done: 3,
            total: 6,
            path: "a".repeat(60),
        };
        let line = progress_line(&p, 10);
        assert!(line.starts_with("[#####-----] 3/6 faq: …"), "{line}");
        assert!(line.chars().count() < 70);
    }
}
