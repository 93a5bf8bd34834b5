//! Cron expressions in words for the common shapes the UI's friendly picker produces ("Every day at
//! 10:00", "Every Monday and Friday at 09:30", "Every 15 minutes"); other expressions fall back to
//! croner's own description.

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Words for the 5 or 6 `fields` of a valid expression, when the shape is a common one.
pub(crate) fn describe_cron(fields: &[String]) -> Option<String> {
    let (second, rest) = match fields.len() {
        6 => (fields[0].as_str(), &fields[1..]),
        _ => ("0", fields),
    };
    let [minute, hour, dom, month, dow] =
        [&rest[0], &rest[1], &rest[2], &rest[3], &rest[4]].map(String::as_str);
    if second != "0" || month != "*" {
        return None;
    }
    if let (Some(step), "*", "*", "*") = (step_of(minute), hour, dom, dow) {
        return Some(plural("minute", step));
    }
    let minute = number(minute, 59)?;
    if (hour, dom, dow) == ("*", "*", "*") {
        return Some(format!("Every hour at minute {minute}"));
    }
    if let (Some(step), "*", "*") = (step_of(hour), dom, dow) {
        return Some(format!("{} at minute {minute}", plural("hour", step)));
    }
    let time = format!("{:02}:{minute:02}", number(hour, 23)?);
    match (dom, dow) {
        ("*", "*") => Some(format!("Every day at {time}")),
        ("*", "1-5") | ("*", "MON-FRI") | ("*", "mon-fri") => {
            Some(format!("Every weekday at {time}"))
        }
        ("*", days) => Some(format!("Every {} at {time}", day_names(days)?)),
        ("L", "*") => Some(format!("On the last day of every month at {time}")),
        (day, "*") => Some(format!(
            "On day {} of every month at {time}",
            number(day, 31)?
        )),
        _ => None,
    }
}

fn step_of(field: &str) -> Option<u32> {
    match field {
        "*" => Some(1),
        _ => field.strip_prefix("*/")?.parse().ok(),
    }
}

fn number(field: &str, max: u32) -> Option<u32> {
    field.parse().ok().filter(|value| *value <= max)
}

fn plural(unit: &str, count: u32) -> String {
    if count == 1 {
        format!("Every {unit}")
    } else {
        format!("Every {count} {unit}s")
    }
}

fn day_names(field: &str) -> Option<String> {
    let names: Option<Vec<&str>> = field.split(',').map(day_name).collect();
    let names = names?;
    Some(match names.as_slice() {
        [] => return None,
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    })
}

fn day_name(field: &str) -> Option<&'static str> {
    let index = match field.parse::<usize>() {
        Ok(number) if number <= 7 => number % 7,
        Ok(_) => return None,
        Err(_) => DAYS
            .iter()
            .position(|day| day[..3].eq_ignore_ascii_case(field))?,
    };
    Some(DAYS[index])
}
