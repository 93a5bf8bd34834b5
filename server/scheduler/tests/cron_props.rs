//! Property tests for schedule timing: parsing any cron-like text, interval or time zone never panics;
//! every accepted expression has a next run strictly in the future that is also its latest run at that
//! moment, in every time zone (DST included). `PROPTEST_CASES` runs more cases.

use chrono::{DateTime, TimeZone as _, Utc};
use nbgate_scheduler::Recurrence;
use nbgate_scheduler::timing::Timing;
use proptest::prelude::*;

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Pacific/Chatham",
];

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2090-01-01
    (946_684_800i64..3_786_912_000).prop_map(|s| Utc.timestamp_opt(s, 0).single().expect("valid"))
}

/// A field: `*`, a number, a range, a step or a list, within (and sometimes past) `max`.
fn field(max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (0..=max).prop_map(|n| n.to_string()),
        (0..=max, 0..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (1..=max.max(1)).prop_map(|k| format!("*/{k}")),
        proptest::collection::vec(0..=max, 1..4).prop_map(|items| {
            items
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
    ]
}

/// Five fields that are valid cron (day of month up to 28, so every month has it).
fn valid_cron() -> impl Strategy<Value = String> {
    (field(59), field(23), field(27), field(11), field(6)).prop_map(
        |(minute, hour, day, month, weekday)| {
            // Days and months count from 1.
            let shift = |f: String| {
                f.split(',')
                    .map(|part| match part.parse::<u32>() {
                        Ok(n) => (n + 1).to_string(),
                        Err(_) => match part.split_once('-') {
                            Some((a, b)) => match (a.parse::<u32>(), b.parse::<u32>()) {
                                (Ok(a), Ok(b)) => format!("{}-{}", a + 1, b + 1),
                                _ => part.to_owned(),
                            },
                            None => part.to_owned(),
                        },
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            format!("{minute} {hour} {} {} {weekday}", shift(day), shift(month))
        },
    )
}

fn check_next(timing: &Timing, at: DateTime<Utc>) -> Result<(), TestCaseError> {
    let next = timing.next_after(at);
    prop_assert!(next.is_some(), "no next run after {at}");
    let next = next.expect("checked");
    prop_assert!(next > at, "next {next} is not after {at}");
    prop_assert_eq!(timing.latest_at_or_before(next), Some(next));
    Ok(())
}

proptest! {
    #[test]
    fn parsing_never_panics(
        text in "[0-9*/,\\- A-Za-z?#LW@]{0,40}",
        any_text in "\\PC{0,40}",
        zone in "[A-Za-z/_+\\-0-9]{0,24}",
        at in instant(),
    ) {
        for recurrence in [
            Recurrence::Cron(text.clone()),
            Recurrence::Cron(any_text.clone()),
            Recurrence::Every(text.clone()),
            Recurrence::Every(any_text),
        ] {
            for zone in [zone.as_str(), "Europe/Paris"] {
                if let Ok(timing) = Timing::new(&recurrence, zone) {
                    let _ = timing.describe();
                    check_next(&timing, at)?;
                }
            }
        }
    }

    #[test]
    fn valid_expressions_run_next_in_the_future(
        cron in valid_cron(),
        zone in proptest::sample::select(ZONES.to_vec()),
        at in instant(),
    ) {
        let timing = Timing::new(&Recurrence::Cron(cron.clone()), zone)
            .map_err(|error| TestCaseError::fail(format!("{cron:?} refused: {error}")))?;
        prop_assert!(!timing.describe().is_empty());
        check_next(&timing, at)?;
    }
}
