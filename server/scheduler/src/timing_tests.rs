//! Next-run tables (DST in several zones, month ends, 6-field cron), catch-up, descriptions.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::model::{Catchup, Recurrence};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

fn cron(expression: &str, tz: &str) -> Timing {
    Timing::new(&Recurrence::Cron(expression.into()), tz).expect("valid")
}

/// The `count` fire times after `after`, in UTC RFC 3339.
fn nexts(timing: &Timing, after: &str, count: usize) -> Vec<String> {
    let mut at = utc(after);
    (0..count)
        .map(|_| {
            at = timing.next_after(at).expect("next");
            at.to_rfc3339()
        })
        .collect()
}

#[test]
fn next_run_table() {
    // (expression, zone, after, the next fire times in UTC)
    let table: &[(&str, &str, &str, &[&str])] = &[
        // Berlin spring forward (2026-03-29 02:00 → 03:00): 02:30 does not exist, runs at 03:00.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-03-28T12:00:00Z",
            &["2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00"],
        ),
        // Berlin fall back (2026-10-25 03:00 → 02:00): 02:30 happens twice, runs once.
        (
            "30 2 * * *",
            "Europe/Berlin",
            "2026-10-24T12:00:00Z",
            &["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"],
        ),
        // New York: spring forward 2026-03-08, fall back 2026-11-01; 10:00 local stays 10:00 local.
        (
            "0 10 * * *",
            "America/New_York",
            "2026-03-07T00:00:00Z",
            &["2026-03-07T15:00:00+00:00", "2026-03-08T14:00:00+00:00"],
        ),
        (
            "0 1 * * *",
            "America/New_York",
            "2026-10-31T12:00:00Z",
            &["2026-11-01T05:00:00+00:00", "2026-11-02T06:00:00+00:00"],
        ),
        // Sydney: DST ends 2026-04-05 (03:00 → 02:00), starts 2026-10-04 (02:00 → 03:00).
        (
            "0 9 * * *",
            "Australia/Sydney",
            "2026-04-03T00:00:00Z",
            &["2026-04-03T22:00:00+00:00", "2026-04-04T23:00:00+00:00"],
        ),
        (
            "30 2 * * *",
            "Australia/Sydney",
            "2026-10-03T00:00:00Z",
            &["2026-10-03T16:00:00+00:00", "2026-10-04T15:30:00+00:00"],
        ),
        // Tokyo has no DST.
        (
            "0 10 * * *",
            "Asia/Tokyo",
            "2026-01-01T00:00:00Z",
            &["2026-01-01T01:00:00+00:00", "2026-01-02T01:00:00+00:00"],
        ),
        // Month ends: the 31st skips short months; L is the last day; 29 February waits for a leap year.
        (
            "0 0 31 * *",
            "UTC",
            "2026-01-31T00:00:00Z",
            &["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00"],
        ),
        (
            "0 0 L * *",
            "UTC",
            "2026-01-31T00:00:00Z",
            &["2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00"],
        ),
        (
            "0 9 29 2 *",
            "UTC",
            "2026-01-01T00:00:00Z",
            &["2028-02-29T09:00:00+00:00", "2032-02-29T09:00:00+00:00"],
        ),
        // Six fields: seconds first.
        (
            "*/20 * * * * *",
            "UTC",
            "2026-01-01T12:00:05Z",
            &["2026-01-01T12:00:20+00:00", "2026-01-01T12:00:40+00:00"],
        ),
        (
            "15 30 9 * * MON",
            "Europe/Paris",
            "2026-01-01T00:00:00Z",
            &["2026-01-05T08:30:15+00:00", "2026-01-12T08:30:15+00:00"],
        ),
    ];
    let mut failures = Vec::new();
    for (expression, tz, after, expected) in table {
        let got = nexts(&cron(expression, tz), after, expected.len());
        if got != *expected {
            failures.push(format!(
                "{expression} {tz} after {after}: {got:?} != {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn hourly_across_fall_back_fires_every_hour() {
    let timing = cron("0 * * * *", "America/New_York");
    let got = nexts(&timing, "2026-11-01T04:30:00Z", 4);
    assert_eq!(
        got,
        [
            "2026-11-01T05:00:00+00:00",
            "2026-11-01T06:00:00+00:00",
            "2026-11-01T07:00:00+00:00",
            "2026-11-01T08:00:00+00:00"
        ]
    );
}

#[test]
fn intervals() {
    let every = |text: &str| Timing::new(&Recurrence::Every(text.into()), "UTC").expect(text);
    assert_eq!(
        nexts(&every("15m"), "2026-01-01T10:07:00Z", 2),
        ["2026-01-01T10:15:00+00:00", "2026-01-01T10:30:00+00:00"]
    );
    assert_eq!(
        nexts(&every("every 2 hours"), "2026-01-01T10:00:00Z", 1),
        ["2026-01-01T12:00:00+00:00"]
    );
    for (text, seconds) in [
        ("90s", 90),
        ("every minute", 60),
        ("1 hour", 3600),
        ("24h", 86400),
    ] {
        assert_eq!(
            parse_interval(text).expect(text).as_secs(),
            seconds,
            "{text}"
        );
    }
    for bad in ["", "0m", "25h", "5 days", "soon", "m5"] {
        assert!(parse_interval(bad).is_err(), "{bad}");
    }
}

#[test]
fn invalid_expressions_say_why() {
    let error = |expression: &str| {
        Timing::new(&Recurrence::Cron(expression.into()), "UTC")
            .expect_err(expression)
            .to_string()
    };
    assert!(error("* * * *").contains("got 4"), "{}", error("* * * *"));
    assert!(error("0 0 0 * * * 2030").contains("got 7"));
    assert!(error("61 * * * *").contains("61 * * * *"));
    assert!(error("0 0 30 2 *").contains("never matches"));
    let tz = Timing::new(&Recurrence::Cron("0 0 * * *".into()), "Mars/Olympus").expect_err("tz");
    assert!(tz.to_string().contains("Mars/Olympus"), "{tz}");
}

#[test]
fn descriptions() {
    let table = [
        (
            "0 10 * * *",
            "Asia/Tokyo",
            "Every day at 10:00 (Asia/Tokyo)",
        ),
        ("*/15 * * * *", "UTC", "Every 15 minutes (UTC)"),
        ("* * * * *", "UTC", "Every minute (UTC)"),
        ("5 * * * *", "UTC", "Every hour at minute 5 (UTC)"),
        ("0 */6 * * *", "UTC", "Every 6 hours at minute 0 (UTC)"),
        (
            "30 9 * * 1-5",
            "Europe/Paris",
            "Every weekday at 09:30 (Europe/Paris)",
        ),
        (
            "30 9 * * 1,5",
            "UTC",
            "Every Monday and Friday at 09:30 (UTC)",
        ),
        ("0 8 * * SUN", "UTC", "Every Sunday at 08:00 (UTC)"),
        ("0 7 1 * *", "UTC", "On day 1 of every month at 07:00 (UTC)"),
        (
            "0 7 L * *",
            "UTC",
            "On the last day of every month at 07:00 (UTC)",
        ),
    ];
    for (expression, tz, expected) in table {
        assert_eq!(cron(expression, tz).describe(), expected, "{expression}");
    }
    let every = Timing::new(&Recurrence::Every("every 2 hours".into()), "UTC").expect("ok");
    assert_eq!(every.describe(), "Every 2 hours (UTC)");
    // Other shapes fall back to croner's words, still with the zone.
    let other = cron("0 0 1 1 *", "UTC").describe();
    assert!(other.ends_with("(UTC)") && other.len() > 10, "{other}");
}

#[test]
fn catch_up_policies() {
    let hourly = cron("0 * * * *", "UTC");
    let first = utc("2026-01-01T10:00:00Z");
    // Down from 10:00 to 13:20: 10:00, 11:00, 12:00 and 13:00 were missed.
    let now = utc("2026-01-01T13:20:00Z");
    let show = |fires: Vec<DateTime<Utc>>| fires.iter().map(|f| f.to_rfc3339()).collect::<Vec<_>>();
    assert!(hourly.fires_due(first, now, Catchup::Skip).is_empty());
    assert_eq!(
        show(hourly.fires_due(first, now, Catchup::Once)),
        ["2026-01-01T13:00:00+00:00"]
    );
    assert_eq!(
        show(hourly.fires_due(first, now, Catchup::All)),
        [
            "2026-01-01T10:00:00+00:00",
            "2026-01-01T11:00:00+00:00",
            "2026-01-01T12:00:00+00:00",
            "2026-01-01T13:00:00+00:00"
        ]
    );
    // On time: every policy fires it.
    let on_time = utc("2026-01-01T10:00:00.005Z");
    for policy in [Catchup::Skip, Catchup::Once, Catchup::All] {
        assert_eq!(
            hourly.fires_due(first, on_time, policy),
            [first],
            "{policy:?}"
        );
    }
    // `all` is bounded.
    let secondly = cron("* * * * * *", "UTC");
    let later = first + chrono::Duration::hours(2);
    let fires = secondly.fires_due(first, later, Catchup::All);
    assert_eq!(fires.len(), MAX_CATCHUP);
    assert_eq!(fires.last(), Some(&later));
}

#[test]
fn parsed_recurrences_are_shared_and_errors_are_not_kept() {
    let tokyo = Recurrence::Cron("7 3 * * *".into());
    let first = Timing::cached(&tokyo, "Asia/Tokyo").expect("valid");
    let again = Timing::cached(&tokyo, "Asia/Tokyo").expect("valid");
    assert!(Arc::ptr_eq(&first, &again), "parsed once");
    assert_eq!(first.describe(), "Every day at 03:07 (Asia/Tokyo)");
    // Another zone, or the same text as an interval, is another recurrence.
    let utc_zone = Timing::cached(&tokyo, "UTC").expect("valid");
    assert!(!Arc::ptr_eq(&first, &utc_zone));
    assert_eq!(utc_zone.describe(), "Every day at 03:07 (UTC)");
    let after = utc("2026-01-01T00:00:00Z");
    assert_eq!(first.next_after(after), Some(utc("2026-01-01T18:07:00Z")));
    assert_eq!(
        Timing::cached(&Recurrence::Every("15m".into()), "UTC")
            .expect("interval")
            .describe(),
        "Every 15 minutes (UTC)"
    );
    assert!(Timing::cached(&Recurrence::Cron("15m".into()), "UTC").is_err());
    // A mistake stays a mistake every time it is asked for.
    for _ in 0..2 {
        assert!(matches!(
            Timing::cached(&Recurrence::Cron("61 * * * *".into()), "UTC"),
            Err(ValidationError::InvalidCron { .. })
        ));
        assert!(matches!(
            Timing::cached(&tokyo, "Mars/Olympus"),
            Err(ValidationError::InvalidTimezone { .. })
        ));
    }
}
