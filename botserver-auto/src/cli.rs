//! `botserver bot check` and `botserver bot run`: for authors, at the terminal.

use crate::dialog::Dialogs;
use crate::package::Package;
use crate::runtime::SessionInfo;
use botlib::BotId;
use std::io::{BufRead, Write};
use std::path::Path;

/// Compiles every script of a package; the report lists each file and every error with
/// its line. `Ok(report)` when everything compiles, `Err(report)` otherwise.
pub fn check(dir: &Path) -> Result<String, String> {
    let pkg = Package::load_dir(dir)?;
    let mut out = String::new();
    let mut bad = 0;
    for file in pkg.sources.keys() {
        match pkg.programs.get(file) {
            Some(p) => {
                let what = match &p.compiled.tool {
                    Some(t) => format!("tool {} ({} params)", t.name, t.params.len()),
                    None => "dialog".into(),
                };
                out.push_str(&format!("ok    {file}: {what}\n"));
            }
            None => {
                bad += 1;
                for e in pkg.errors.iter().filter(|e| &e.file == file) {
                    out.push_str(&format!("error {e}\n"));
                }
            }
        }
    }
    for p in pkg.programs.values() {
        for t in &p.compiled.tables {
            let lines: Vec<&str> = t.lines.iter().map(|(l, _)| l.as_str()).collect();
            if let Err(e) = crate::data::TableDef::parse(&t.name, &lines) {
                bad += 1;
                let line = e.line.and_then(|i| t.lines.get(i)).map_or(0, |(_, n)| *n);
                out.push_str(&format!(
                    "error {}:{line}: TABLE {}: {}\n",
                    p.compiled.file, t.name, e.message
                ));
            }
        }
    }
    if let Err(e) = crate::runtime::Limits::from_config(&pkg.config) {
        bad += 1;
        out.push_str(&format!("error {e}\n"));
    }
    out.push_str(&format!(
        "{}: {} script(s), {} error(s)\n",
        pkg.name,
        pkg.sources.len(),
        bad
    ));
    if bad == 0 { Ok(out) } else { Err(out) }
}

/// Runs a package's dialog (`start.bas`, or `script`) in the terminal: TALK prints, HEAR
/// reads a line. A tool asks for its parameters, then prints its messages and result.
pub async fn run(
    dialogs: &Dialogs,
    dir: &Path,
    script: Option<&str>,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> Result<(), String> {
    let pkg = Package::load_dir(dir)?;
    for e in &pkg.errors {
        writeln!(output, "warning: {e}").map_err(|e| e.to_string())?;
    }
    let name = pkg.name.clone();
    let bot = dialogs.install(pkg).await.map_err(|e| e.public_message())?;
    let pkg = dialogs.package(bot).ok_or("the package did not install")?;
    let script = script.unwrap_or("start.bas");
    let info = info(bot, &name);
    let w = |output: &mut dyn Write, s: &str| writeln!(output, "{s}").map_err(|e| e.to_string());
    if let Some(tool) = pkg.program(script).and_then(|p| p.compiled.tool.clone()) {
        let mut args = serde_json::Map::new();
        for p in &tool.params {
            let mut prompt = p.description.clone().unwrap_or_else(|| p.name.clone());
            if let Some(ex) = &p.example {
                prompt.push_str(&format!(" (e.g. {ex})"));
            }
            w(output, &format!("{prompt}:"))?;
            let mut line = String::new();
            input.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end_matches(['\r', '\n']);
            if !line.is_empty() {
                args.insert(p.name.clone(), serde_json::Value::String(line.to_string()));
            }
        }
        let run = dialogs
            .run_tool(info, script, &serde_json::Value::Object(args))
            .await
            .map_err(|e| e.public_message())?;
        for m in run.messages {
            w(output, &m)?;
        }
        w(output, &format!("=> {}", run.result))?;
        return Ok(());
    }
    let mut message = None;
    loop {
        let out = dialogs
            .turn_in(script, info.clone(), message.take())
            .await
            .map_err(|e| e.public_message())?;
        for m in &out.messages {
            w(output, &m.content)?;
            if !m.suggestions.is_empty() {
                let labels: Vec<String> = m.suggestions.iter().map(|s| format!("[{}]", s.text)).collect();
                w(output, &labels.join(" "))?;
            }
        }
        if !out.waiting_for_input {
            if let Some((status, result)) = dialogs
                .outcome(&info.session_id)
                .await
                .map_err(|e| e.public_message())?
                && status == "error"
            {
                return Err(result
                    .map(|r| r["error"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default());
            }
            return Ok(());
        }
        write!(output, "> ").map_err(|e| e.to_string())?;
        output.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        if input.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Ok(()); // end of input: the conversation stays parked
        }
        message = Some(line.trim_end_matches(['\r', '\n']).to_string());
    }
}

fn info(bot: BotId, name: &str) -> SessionInfo {
    let session = format!("cli:{}", uuid::Uuid::new_v4());
    SessionInfo {
        bot_id: bot,
        bot_name: name.to_string(),
        session_id: session,
        user_id: "cli".into(),
        user_name: "author".into(),
        user_email: String::new(),
        user_phone: String::new(),
        channel: "cli".into(),
        language: "en".into(),
    }
}
