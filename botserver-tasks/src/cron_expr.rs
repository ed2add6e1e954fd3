//! Cron expressions as people write them: 5 fields (`min hour day month weekday`) or 6
//! (seconds first), with the usual `*`, lists, ranges, steps and names, evaluated on the
//! wall clock of an IANA time zone (so `0 9 * * *` in `America/Sao_Paulo` is 09:00 there
//! all year). The `cron` crate does the matching; this module translates the standard
//! weekday numbering (0 or 7 = Sunday, 1 = Monday) to that crate's (1 = Sunday) and
//! refuses what it would read differently, so an expression means what crontab(5) says.

use botlib::{AppError, AppResult};
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use std::str::FromStr;

/// A parsed expression in its time zone.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    tz: Tz,
}

/// The standard weekday numbers of one field, rewritten for the `cron` crate.
fn weekday_field(field: &str) -> AppResult<String> {
    let mut out = String::new();
    let mut number = String::new();
    let mut after_slash = false;
    let flush = |number: &mut String, out: &mut String, after_slash: bool| -> AppResult<()> {
        if number.is_empty() {
            return Ok(());
        }
        let n: u32 = number.parse().map_err(|_| AppError::bad_request("bad weekday"))?;
        if after_slash {
            out.push_str(number);
        } else {
            if n > 7 {
                return Err(AppError::bad_request(format!(
                    "weekday {n} is out of range (0-7, 0 and 7 are Sunday)"
                )));
            }
            // 0 and 7 are Sunday (the crate's 1); 1 (Monday) is the crate's 2.
            out.push_str(&(if n == 7 { 1 } else { n + 1 }).to_string());
        }
        number.clear();
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        flush(&mut number, &mut out, after_slash)?;
        after_slash = c == '/';
        if c == ',' {
            after_slash = false;
        }
        out.push(c);
    }
    flush(&mut number, &mut out, after_slash)?;
    // `5-7` would become `6-1`: spell a range that wraps as two.
    let fixed: Vec<String> = out
        .split(',')
        .map(|part| {
            let (range, step) = part.split_once('/').map_or((part, None), |(r, s)| (r, Some(s)));
            match range.split_once('-') {
                Some((a, b))
                    if a.parse::<u32>()
                        .ok()
                        .zip(b.parse::<u32>().ok())
                        .is_some_and(|(a, b)| a > b)
                        && step.is_none() =>
                {
                    format!("{a}-7,1-{b}")
                }
                _ => part.to_string(),
            }
        })
        .collect();
    Ok(fixed.join(","))
}

impl CronSchedule {
    /// Parses `expr` (5 or 6 fields) for the time zone `tz` (an IANA name). The error
    /// says what is wrong.
    pub fn parse(expr: &str, tz: &str) -> AppResult<CronSchedule> {
        let tz: Tz = tz.trim().parse().map_err(|_| {
            AppError::bad_request(format!(
                "unknown time zone `{tz}` (an IANA name like Europe/Lisbon)"
            ))
        })?;
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let (secs, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(AppError::bad_request(format!(
                    "malformed cron `{expr}`: {n} fields, expected 5 (min hour day month weekday) or 6 (seconds first)"
                )));
            }
        };
        let weekday = weekday_field(rest[4])
            .map_err(|e| AppError::bad_request(format!("malformed cron `{expr}`: {}", e.public_message())))?;
        let full = format!("{secs} {} {} {} {} {weekday}", rest[0], rest[1], rest[2], rest[3]);
        let schedule = cron::Schedule::from_str(&full)
            .map_err(|e| AppError::bad_request(format!("malformed cron `{expr}`: {e}")))?;
        Ok(CronSchedule { schedule, tz })
    }

    /// The first time strictly after `after_ms` (Unix milliseconds), if any.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after: DateTime<Utc> = Utc.timestamp_millis_opt(after_ms).single()?;
        self.schedule
            .after(&after.with_timezone(&self.tz))
            .next()
            .map(|t| t.with_timezone(&Utc).timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::CronSchedule;
    use chrono::{TimeZone, Utc};

    fn ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn five_and_six_fields() {
        let every_second = CronSchedule::parse("* * * * * *", "UTC").unwrap();
        let t = ms(2026, 1, 1, 0, 0, 0);
        assert_eq!(every_second.next_after(t), Some(t + 1000));
        let hourly = CronSchedule::parse("15 * * * *", "UTC").unwrap();
        assert_eq!(hourly.next_after(t), Some(ms(2026, 1, 1, 0, 15, 0)));
    }

    #[test]
    fn weekdays_are_numbered_as_in_crontab() {
        // 2026-01-02 is a Friday.
        let fri = ms(2026, 1, 2, 12, 0, 0);
        let weekdays = CronSchedule::parse("0 9 * * 1-5", "UTC").unwrap();
        assert_eq!(
            weekdays.next_after(fri),
            Some(ms(2026, 1, 5, 9, 0, 0)),
            "Monday, not Sunday"
        );
        let sunday = CronSchedule::parse("0 9 * * 0", "UTC").unwrap();
        assert_eq!(sunday.next_after(fri), Some(ms(2026, 1, 4, 9, 0, 0)));
        let seven = CronSchedule::parse("0 9 * * 7", "UTC").unwrap();
        assert_eq!(seven.next_after(fri), Some(ms(2026, 1, 4, 9, 0, 0)));
        let weekend = CronSchedule::parse("0 9 * * 6-7", "UTC").unwrap();
        assert_eq!(weekend.next_after(fri), Some(ms(2026, 1, 3, 9, 0, 0)));
        let names = CronSchedule::parse("0 9 * * MON", "UTC").unwrap();
        assert_eq!(names.next_after(fri), Some(ms(2026, 1, 5, 9, 0, 0)));
    }

    #[test]
    fn time_zones_follow_the_wall_clock() {
        // 09:00 in São Paulo (UTC-3) is 12:00 UTC.
        let sp = CronSchedule::parse("0 9 * * *", "America/Sao_Paulo").unwrap();
        assert_eq!(
            sp.next_after(ms(2026, 3, 1, 0, 0, 0)),
            Some(ms(2026, 3, 1, 12, 0, 0))
        );
        // Lisbon: UTC+1 in summer, UTC in winter.
        let lx = CronSchedule::parse("0 9 * * *", "Europe/Lisbon").unwrap();
        assert_eq!(
            lx.next_after(ms(2026, 7, 1, 0, 0, 0)),
            Some(ms(2026, 7, 1, 8, 0, 0))
        );
        assert_eq!(
            lx.next_after(ms(2026, 1, 1, 0, 0, 0)),
            Some(ms(2026, 1, 1, 9, 0, 0))
        );
    }

    #[test]
    fn bad_input_is_named() {
        for (expr, tz, needle) in [
            ("* * *", "UTC", "3 fields"),
            ("61 * * * *", "UTC", "malformed cron"),
            ("* * * * 9", "UTC", "weekday 9"),
            ("* * * * *", "Mars/Olympus", "unknown time zone"),
            ("every day", "UTC", "malformed cron"),
        ] {
            let e = CronSchedule::parse(expr, tz).unwrap_err().public_message();
            assert!(e.contains(needle), "{expr}: {e}");
        }
    }
}
