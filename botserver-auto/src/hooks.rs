//! Schedules and event hooks a package declares (`SET SCHEDULE`, `ON …`, `WEBHOOK`),
//! collected at compile time into scheduler registrations. The scheduler replaces a bot's
//! whole set on every install, so removing a line removes its registration.

use crate::compile::Hook;
use crate::package::Package;
use botlib::BotId;
use botstate::services::{JobSpec, Trigger};

/// The registrations of a package, named `<script>:<line>`.
pub fn jobs(bot: BotId, package: &Package) -> Vec<JobSpec> {
    let tz = package
        .config
        .get("timezone")
        .cloned()
        .unwrap_or_else(|| "UTC".to_string());
    let mut out = Vec::new();
    for (file, program) in &package.programs {
        for hook in &program.compiled.hooks {
            let (trigger, line) = match hook {
                Hook::Schedule { cron, line } => (
                    Trigger::Cron {
                        expr: cron.clone(),
                        tz: tz.clone(),
                    },
                    *line,
                ),
                Hook::Event { name, line } => (Trigger::Event { name: name.clone() }, *line),
            };
            out.push(JobSpec {
                bot,
                name: format!("{file}:{line}"),
                script: file.clone(),
                trigger,
            });
        }
    }
    out
}
