//! The keyword registry: every keyword phrase of the spec (§4 to §11), whether it is a
//! statement or also an expression (`x = FIND …`), and whether it opens a block of raw
//! text lines. The parser matches the longest phrase; anything else at the start of a
//! statement is an "unknown keyword" error. The language reference is generated from this
//! table, so the docs cannot drift from the parser.

/// How a keyword is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Only as a statement (`TALK x`).
    Statement,
    /// As a statement or as the value of an assignment (`rows = FIND "t"`).
    Both,
    /// Opens a block of text lines closed by `END <last word>` (`BEGIN TALK` … `END TALK`).
    Block,
}

/// One keyword phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyword {
    /// Its words, uppercase (`SET BOT MEMORY`).
    pub phrase: &'static str,
    /// How it is used.
    pub usage: Use,
    /// The spec section it comes from.
    pub section: &'static str,
    /// One line for the reference.
    pub summary: &'static str,
}

const fn k(phrase: &'static str, usage: Use, section: &'static str, summary: &'static str) -> Keyword {
    Keyword {
        phrase,
        usage,
        section,
        summary,
    }
}

use Use::{Block, Both, Statement};

/// Every keyword of the dialect, except the control-flow statements the parser knows
/// itself (IF, SELECT CASE, FOR, WHILE, DO, EXIT, WITH, SUB, FUNCTION, CALL, RETURN,
/// ON ERROR, THROW, WAIT, PRINT, LET, SET x =).
pub const KEYWORDS: &[Keyword] = &[
    // §4 conversation
    k("TALK", Statement, "4", "Send a message to the user (Markdown)."),
    k(
        "TALK TO",
        Statement,
        "8",
        "Message another address on its channel.",
    ),
    k(
        "BEGIN TALK",
        Block,
        "4",
        "One multi-line message with ${} interpolation.",
    ),
    k(
        "HEAR",
        Statement,
        "4",
        "Wait for the user's answer (typed, menu, WITH prompt, DEFAULT).",
    ),
    k(
        "ADD SUGGESTION",
        Statement,
        "4",
        "A quick-reply button for the rest of the session.",
    ),
    k(
        "CLEAR SUGGESTIONS",
        Statement,
        "4",
        "Remove the quick-reply buttons.",
    ),
    k(
        "SET CONTEXT",
        Statement,
        "4",
        "Named context text for the LLM's system prompt.",
    ),
    k(
        "BEGIN SYSTEM PROMPT",
        Block,
        "4",
        "The bot's system prompt for this session.",
    ),
    k("GET SESSION", Both, "4", "Read a session attribute."),
    k("SET SESSION", Statement, "4", "A session-scoped value."),
    // §5 tools
    k("PARAM", Statement, "5", "A parameter of this script as a tool."),
    k("DESCRIPTION", Statement, "5", "The tool's description."),
    k(
        "ADD TOOL",
        Statement,
        "5",
        "Offer a tool to the LLM for the session.",
    ),
    k(
        "USE TOOL",
        Statement,
        "5",
        "Offer a tool to the LLM for the session.",
    ),
    k("CLEAR TOOLS", Statement, "5", "Remove the session's tools."),
    // §6 data
    k("TABLE", Block, "6", "Declare a table's columns and key."),
    k(
        "SAVE",
        Statement,
        "6",
        "Insert, or update the row with the same key.",
    ),
    k(
        "SAVE FROM UNSTRUCTURED",
        Statement,
        "7",
        "The LLM extracts a row from text.",
    ),
    k("INSERT", Statement, "6", "Insert a row."),
    k("UPDATE", Statement, "6", "Update rows matching a filter."),
    k(
        "DELETE",
        Both,
        "6",
        "Delete rows matching a filter (or an HTTP DELETE).",
    ),
    k("MERGE", Statement, "6", "Upsert many rows by a key column."),
    k("MERGE PDF", Statement, "11", "Join PDF files."),
    k("FIND", Both, "6", "Rows matching a filter."),
    k("SEARCH", Both, "6", "Rows whose text fields contain the words."),
    k("FILTER", Both, "6", "Rows (in memory) matching a filter."),
    k("AGGREGATE", Both, "6", "SUM, COUNT, AVG, MIN or MAX of a column."),
    k("JOIN", Both, "6", "Join two row lists on a column."),
    k("GROUP BY", Both, "6", "Group rows by a column."),
    k("SORT", Both, "6", "Sort rows by a column."),
    k("SET BOT MEMORY", Statement, "6", "A per-bot persistent value."),
    k("GET BOT MEMORY", Both, "6", "Read a per-bot persistent value."),
    k("SET USER MEMORY", Statement, "6", "A per-user persistent value."),
    k("GET USER MEMORY", Both, "6", "Read a per-user persistent value."),
    k(
        "REMEMBER",
        Statement,
        "6",
        "A per-user value, optionally expiring.",
    ),
    k("RECALL", Both, "6", "Read a remembered value."),
    // §7 AI and knowledge
    k("LLM", Both, "7", "One completion with the bot's model."),
    k("USE MODEL", Statement, "7", "Model for the rest of the session."),
    k(
        "USE KB",
        Statement,
        "7",
        "Activate a knowledge base for the session.",
    ),
    k("CLEAR KB", Statement, "7", "Deactivate knowledge bases."),
    k("THINK KB", Both, "7", "Search a knowledge base explicitly."),
    k(
        "USE WEBSITE",
        Statement,
        "7",
        "Crawl and index a site for the session.",
    ),
    k(
        "ADD BOT",
        Statement,
        "7",
        "Hand off to another bot on trigger words.",
    ),
    k(
        "DELEGATE",
        Both,
        "7",
        "Send a message to another bot and get its answer.",
    ),
    k(
        "TRANSFER TO HUMAN",
        Statement,
        "7",
        "Queue the conversation for a human.",
    ),
    // §8 communication, files, HTTP, scheduling
    k(
        "SEND MAIL",
        Statement,
        "8",
        "Send mail through the bot's SMTP settings.",
    ),
    k(
        "SEND EMAIL",
        Statement,
        "8",
        "Send mail through the bot's SMTP settings.",
    ),
    k("BEGIN MAIL", Block, "8", "A mail with Subject: and body lines."),
    k(
        "SEND FILE",
        Statement,
        "8",
        "Send a drive file to the user as a share link (valid 7 days).",
    ),
    k(
        "READ",
        Both,
        "8",
        "Read a drive file: text, parsed JSON, or a document's text (pdf, docx, xlsx, ods, html).",
    ),
    k("WRITE", Statement, "8", "Write a drive file."),
    k("LIST", Both, "8", "List drive files."),
    k("COPY", Statement, "8", "Copy a drive file."),
    k("MOVE", Statement, "8", "Move a drive file."),
    k("DELETE FILE", Statement, "8", "Delete a drive file."),
    k(
        "UPLOAD",
        Both,
        "8",
        "Put data in the drive and get a share link (valid 7 days).",
    ),
    k("DOWNLOAD", Statement, "8", "Fetch a URL into the drive."),
    k("GET", Both, "8", "HTTP GET (JSON answers become objects)."),
    k("POST", Both, "8", "HTTP POST."),
    k("PUT", Both, "8", "HTTP PUT."),
    k("PATCH", Both, "8", "HTTP PATCH."),
    k("SET HEADER", Statement, "8", "A header for the next HTTP calls."),
    k("CLEAR HEADERS", Statement, "8", "Forget the HTTP headers."),
    k(
        "CREATE TASK",
        Both,
        "8",
        "A to-do item (title, assignee, due date, optional project); gives its id.",
    ),
    k(
        "SET SCHEDULE",
        Statement,
        "8",
        "Run this script on a cron schedule (5 fields, or 6 with seconds first) in the bot's `timezone` (default UTC); exactly once per tick across instances.",
    ),
    k("ON EMAIL", Statement, "8", "Run this script when mail arrives."),
    k(
        "ON INSERT OF",
        Statement,
        "8",
        "Run this script when a row is inserted.",
    ),
    k(
        "ON UPDATE OF",
        Statement,
        "8",
        "Run this script when a row is updated.",
    ),
    k(
        "ON DELETE OF",
        Statement,
        "8",
        "Run this script when a row is deleted.",
    ),
    k(
        "WEBHOOK",
        Statement,
        "8",
        "Run this script on POST /api/bots/{bot}/webhooks/{name}, for callers presenting the webhook's secret (config.csv `webhook-<name>-key` or `webhook-key`).",
    ),
    k("BOOK", Statement, "8", "A calendar event."),
    // §11 further keywords
    k(
        "SEND TEMPLATE",
        Statement,
        "11",
        "Send a stored message template.",
    ),
    k("SEND SMS", Statement, "11", "Send an SMS."),
    k("SEND MESSAGE", Statement, "11", "Send a channel message."),
    k("SEND TO", Statement, "11", "Send a channel message."),
    k("CREATE DRAFT", Statement, "11", "A mail draft."),
    k("GENERATE PDF", Both, "11", "A PDF from a template and data."),
    k("COMPRESS", Statement, "11", "Zip files in the drive."),
    k("EXTRACT", Statement, "11", "Unzip a file in the drive."),
    k("IMPORT", Both, "11", "Rows from CSV or XLSX in the drive."),
    k("EXPORT", Statement, "11", "Rows to CSV or XLSX in the drive."),
    k("MAP", Both, "11", "Rename row fields."),
    k("FILL", Both, "11", "Fill a template from rows."),
    k("PIVOT", Both, "11", "Pivot rows."),
    k("GRAPHQL", Both, "11", "A GraphQL call (HTTP rules apply)."),
    k("SOAP", Both, "11", "A SOAP call (HTTP rules apply)."),
    k("QR CODE", Both, "11", "A QR image in the drive."),
    k("NEW OBJECT", Both, "11", "An empty object."),
    k("NEW ARRAY", Both, "11", "An empty array."),
    k(
        "BOT SHARE MEMORY",
        Statement,
        "11",
        "Share a memory key with another bot.",
    ),
    k("ADD MEMBER", Statement, "11", "Group membership."),
    k("POST TO", Statement, "11", "Social posting."),
    k(
        "ON FORM SUBMIT",
        Statement,
        "11",
        "Run this script when a form is submitted.",
    ),
    k(
        "PUBLISH EVENT",
        Statement,
        "11",
        "Publish an event to scripts and bots.",
    ),
    k("WAIT FOR EVENT", Both, "11", "Wait for an event (durably)."),
    k("ON EVENT", Statement, "11", "Run this script on an event."),
    k("KB STATISTICS", Both, "11", "Knowledge-base figures."),
    k(
        "KB DOCUMENTS COUNT",
        Both,
        "11",
        "Number of knowledge-base documents.",
    ),
    k("WEATHER", Both, "11", "Weather lookup."),
];

/// The longest keyword phrase matching the words at the start of `words` (compared
/// without case), with how many words it took.
pub fn longest_match<'a>(words: impl Iterator<Item = &'a str> + Clone) -> Option<(&'static Keyword, usize)> {
    let mut best: Option<(&'static Keyword, usize)> = None;
    for kw in KEYWORDS {
        let n = kw.phrase.split(' ').count();
        let matches = kw
            .phrase
            .split(' ')
            .zip(words.clone())
            .filter(|(a, b)| a.eq_ignore_ascii_case(b))
            .count()
            == n;
        if matches && best.is_none_or(|(_, m)| n > m) {
            best = Some((kw, n));
        }
    }
    best
}

/// The language reference, generated from [`KEYWORDS`].
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "# BASIC keywords\n\nGenerated from the keyword registry of botserver-auto.\n\n| Keyword | Use | Spec | Meaning |\n|---|---|---|---|\n",
    );
    for kw in KEYWORDS {
        let usage = match kw.usage {
            Statement => "statement",
            Both => "statement or value",
            Block => "block",
        };
        out.push_str(&format!(
            "| `{}` | {usage} | §{} | {} |\n",
            kw.phrase, kw.section, kw.summary
        ));
    }
    out.push_str("\n## Functions\n\nGenerated from the function library (spec §9). Arguments: how many each takes.\n\n| Function | Arguments |\n|---|---|\n");
    for name in crate::runtime::builtins::names() {
        let (min, max) = crate::runtime::builtins::arity(name).expect("listed");
        let args = match (min, max) {
            (a, b) if a == b => a.to_string(),
            (a, usize::MAX) => format!("{a} or more"),
            (a, b) => format!("{a} to {b}"),
        };
        out.push_str(&format!("| `{name}` | {args} |\n"));
    }
    out.push_str("\n## HEAR types\n\n");
    let types: Vec<String> = crate::compile::HEAR_TYPES
        .iter()
        .map(|t| format!("`{t}`"))
        .collect();
    out.push_str(&types.join(", "));
    out.push_str(", or menu options (`HEAR x AS \"A\", \"B\"`, or a list variable).\n");
    let l = crate::runtime::Limits::default();
    out.push_str(&format!(
        "\n## Default limits (config.csv `limit-*`)\n\n| Key | Default |\n|---|---|\n| `limit-operations` | {} |\n| `limit-wall-ms` | {} |\n| `limit-call-depth` | {} |\n| `limit-string-bytes` | {} |\n| `limit-array-len` | {} |\n| `limit-map-len` | {} |\n| `limit-http-calls` | {} |\n| `limit-http-bytes` | {} |\n| `limit-journal-entries` | {} |\n",
        l.operations, l.wall_ms, l.call_depth, l.string_bytes, l.array_len, l.map_len, l.http_calls, l.http_bytes, l.journal_entries
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_phrase_wins() {
        let words = ["set", "bot", "memory", "\"k\""];
        let (kw, n) = longest_match(words.iter().copied()).unwrap();
        assert_eq!((kw.phrase, n), ("SET BOT MEMORY", 3));
        let (kw, _) = longest_match(["Delete", "File", "x"].iter().copied()).unwrap();
        assert_eq!(kw.phrase, "DELETE FILE");
        let (kw, _) = longest_match(["DELETE", "\"t\""].iter().copied()).unwrap();
        assert_eq!(kw.phrase, "DELETE");
        assert!(longest_match(["PUBLISH", "x"].iter().copied()).is_none());
    }

    #[test]
    fn phrases_are_unique_and_uppercase() {
        let mut seen = std::collections::HashSet::new();
        for kw in KEYWORDS {
            assert!(seen.insert(kw.phrase), "{} twice", kw.phrase);
            assert_eq!(kw.phrase, kw.phrase.to_uppercase());
        }
    }

    #[test]
    fn the_reference_lists_every_keyword() {
        let doc = reference_markdown();
        for kw in KEYWORDS {
            assert!(doc.contains(&format!("`{}`", kw.phrase)));
        }
    }
}
