//! When schedules fire: cron expressions (croner, 5 or 6 fields) and friendly intervals in an IANA time
//! zone (chrono-tz), next-run math that is correct across DST changes, catch-up after downtime, and
//! descriptions in words. Pure functions: the current time is always an argument.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::error::ValidationError;
use crate::model::{Catchup, Recurrence};

/// The most fire times one catch-up (`all`) creates; older ones are dropped with a warning.
pub const MAX_CATCHUP: usize = 1000;

/// A fire time later than this after it was due counts as missed (nbgate was down or stalled).
pub const CATCHUP_GRACE: Duration = Duration::from_secs(60);

/// Parsed recurrences kept by [`Timing::cached`]; emptied when it reaches this size (far more distinct
/// expressions than schedules in any real deployment), so edits and deletions cannot grow it forever.
const CACHE_LIMIT: usize = 65_536;

/// A recurrence checked and ready for math.
#[derive(Debug, Clone)]
pub struct Timing {
    kind: Kind,
    tz: Tz,
    /// [`Timing::describe`], computed once.
    description: OnceLock<String>,
}

/// `(cron or every, expression, time zone)` → its parsed recurrence.
type Cache = HashMap<(bool, String, String), Arc<Timing>>;

static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);

#[derive(Debug, Clone)]
enum Kind {
    Cron {
        cron: Box<Cron>,
        fields: Vec<String>,
    },
    Every(Duration),
    /// Fires after other schedules, never by time: its description.
    After(String),
}

/// Parses an IANA time zone name.
pub fn parse_timezone(name: &str) -> Result<Tz, ValidationError> {
    Tz::from_str(name).map_err(|_| ValidationError::InvalidTimezone {
        timezone: name.into(),
    })
}

impl Timing {
    pub fn new(recurrence: &Recurrence, timezone: &str) -> Result<Timing, ValidationError> {
        let tz = parse_timezone(timezone)?;
        let kind = match recurrence {
            Recurrence::Cron(expression) => parse_cron(expression)?,
            Recurrence::Every(text) => Kind::Every(parse_interval(text)?),
            Recurrence::After(after) => Kind::After(crate::pipeline::describe_after(after)),
        };
        Ok(Timing {
            kind,
            tz,
            description: OnceLock::new(),
        })
    }

    /// [`Timing::new`], parsed once per distinct recurrence and time zone and then shared: the loop
    /// and every store read of a schedule (for its description) ask for it, thousands of times a
    /// second at scale, while parsing a cron expression (and checking that it ever matches) costs
    /// far more than a lookup. Errors are not kept.
    pub fn cached(recurrence: &Recurrence, timezone: &str) -> Result<Arc<Timing>, ValidationError> {
        let key = match recurrence {
            Recurrence::Cron(text) => (true, text.clone(), timezone.to_owned()),
            Recurrence::Every(text) => (false, text.clone(), timezone.to_owned()),
            Recurrence::After(_) => return Timing::new(recurrence, timezone).map(Arc::new),
        };
        let lock = || nbgate_kernel::sync::lock(&CACHE);
        if let Some(timing) = lock().get(&key) {
            return Ok(timing.clone());
        }
        let timing = Arc::new(Timing::new(recurrence, timezone)?);
        let mut cache = lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, timing.clone());
        Ok(timing)
    }

    /// The time zone fire times are computed in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron { cron, .. } => cron
                .find_next_occurrence(&after.with_timezone(&self.tz), false)
                .ok()
                .map(|next| next.with_timezone(&Utc)),
            Kind::Every(interval) => {
                let step = interval.as_millis() as i64;
                let now = after.timestamp_millis();
                let next = (now.div_euclid(step) + 1) * step;
                Utc.timestamp_millis_opt(next).single()
            }
            Kind::After(_) => None,
        }
    }

    /// The latest fire time at or before `at`.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron { cron, .. } => cron
                .find_previous_occurrence(&at.with_timezone(&self.tz), true)
                .ok()
                .map(|previous| previous.with_timezone(&Utc)),
            Kind::Every(interval) => {
                let step = interval.as_millis() as i64;
                let latest = at.timestamp_millis().div_euclid(step) * step;
                Utc.timestamp_millis_opt(latest).single()
            }
            Kind::After(_) => None,
        }
    }

    /// The fire times to run now, oldest first, for a schedule whose next fire was `first` (due:
    /// `first <= now`), per its catch-up policy. A fire within [`CATCHUP_GRACE`] of `now` is on time and
    /// runs under every policy; older ones were missed: `skip` drops them, `once` runs the latest,
    /// `all` runs each (the newest [`MAX_CATCHUP`]).
    pub fn fires_due(
        &self,
        first: DateTime<Utc>,
        now: DateTime<Utc>,
        policy: Catchup,
    ) -> Vec<DateTime<Utc>> {
        let Some(latest) = self
            .latest_at_or_before(now)
            .filter(|latest| *latest >= first)
        else {
            return Vec::new();
        };
        let grace = chrono::Duration::from_std(CATCHUP_GRACE).unwrap_or_default();
        match policy {
            Catchup::Once => vec![latest],
            Catchup::Skip if now - latest <= grace => vec![latest],
            Catchup::Skip => Vec::new(),
            Catchup::All => {
                let mut fires = vec![latest];
                while fires.len() < MAX_CATCHUP {
                    let earliest = fires[fires.len() - 1] - chrono::Duration::milliseconds(1);
                    match self.latest_at_or_before(earliest) {
                        Some(previous) if previous >= first => fires.push(previous),
                        _ => break,
                    }
                }
                fires.reverse();
                fires
            }
        }
    }

    /// "Every day at 10:00 (Asia/Tokyo)".
    pub fn describe(&self) -> String {
        let description = self.description.get_or_init(|| {
            let words = match &self.kind {
                Kind::Every(interval) => describe_interval(*interval),
                Kind::Cron { cron, fields } => {
                    crate::describe::describe_cron(fields).unwrap_or_else(|| cron.describe())
                }
                Kind::After(words) => words.clone(),
            };
            format!("{words} ({})", self.tz.name())
        });
        description.clone()
    }
}

/// 2000-01-01T00:00:00Z, where the check that a cron pattern ever matches starts.
const MATCH_SEARCH_FROM: DateTime<Utc> = DateTime::from_timestamp_nanos(946_684_800_000_000_000);

fn parse_cron(expression: &str) -> Result<Kind, ValidationError> {
    let invalid = |reason: String| ValidationError::InvalidCron {
        expression: expression.into(),
        reason,
    };
    let fields: Vec<String> = expression.split_whitespace().map(str::to_owned).collect();
    if !(5..=6).contains(&fields.len()) {
        return Err(invalid(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), \
             got {}",
            fields.len()
        )));
    }
    let cron = Cron::from_str(&fields.join(" ")).map_err(|error| invalid(error.to_string()))?;
    // A pattern that never matches (31 February) is refused now rather than never firing. Whether
    // one ever matches does not depend on when it is asked (the fields repeat within 400 years, and
    // croner searches to the year 5000), and the parsed timing is cached for good: so it is asked
    // from a fixed instant, not the wall clock (which the scheduler reads only through its `Clock`).
    cron.find_next_occurrence(&MATCH_SEARCH_FROM, false)
        .map_err(|_| invalid("it never matches a real date".into()))?;
    Ok(Kind::Cron {
        cron: Box::new(cron),
        fields,
    })
}

/// "15m", "90 seconds", "every 2 hours", "1h": seconds, minutes or hours, from 1 second to 24 hours.
/// Daily, weekly and monthly recurrences are cron expressions, which say at what time.
pub fn parse_interval(text: &str) -> Result<Duration, ValidationError> {
    let invalid = |reason: &str| ValidationError::InvalidInterval {
        interval: text.into(),
        reason: reason.into(),
    };
    let lower = text.trim().to_ascii_lowercase();
    let rest = lower.strip_prefix("every").unwrap_or(&lower).trim();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let unit = rest[digits.len()..].trim();
    let count: u64 = if digits.is_empty() {
        1
    } else {
        digits
            .parse()
            .map_err(|_| invalid("the number is too large"))?
    };
    let seconds = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        _ => {
            return Err(invalid(
                "expected a number and a unit (s, m or h), like \"15m\" or \"every 2 hours\"; \
                 use a cron expression for daily, weekly or monthly runs",
            ));
        }
    };
    let total = count.saturating_mul(seconds);
    if total == 0 || total > 24 * 3600 {
        return Err(invalid(
            "the interval must be between 1 second and 24 hours",
        ));
    }
    Ok(Duration::from_secs(total))
}

fn describe_interval(interval: Duration) -> String {
    let seconds = interval.as_secs();
    let (count, unit) = if seconds.is_multiple_of(3600) {
        (seconds / 3600, "hour")
    } else if seconds.is_multiple_of(60) {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    if count == 1 {
        format!("Every {unit}")
    } else {
        format!("Every {count} {unit}s")
    }
}

#[cfg(test)]
#[path = "timing_tests.rs"]
mod tests;
