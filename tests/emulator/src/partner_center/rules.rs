//! The rules a write must pass, apart from HTTP: `If-Match`, the terminal Closed state, and the status transition
//! table of `docs/DOMAIN.md` §2.4.

use serde_json::Value;

/// A string property ("" when absent or not a string).
pub(super) fn text<'a>(referral: &'a Value, key: &str) -> &'a str {
    referral.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `If-Match`: `*`, or a list of entity tags one of which is the referral's `eTag` exactly (strong comparison).
pub(super) fn if_match_holds(if_match: &str, referral: &Value) -> bool {
    let etag = text(referral, "eTag");
    if_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || (!etag.is_empty() && tag == etag))
}

/// A Closed referral is terminal: it cannot be edited.
pub(super) fn check_editable(referral: &Value) -> Result<(), String> {
    if text(referral, "status") == "Closed" {
        return Err(format!(
            "The referral is Closed ({}), a terminal state: it cannot be edited.",
            text(referral, "substatus")
        ));
    }
    Ok(())
}

/// The substatuses allowed with each status.
fn substatuses(status: &str) -> Option<&'static [&'static str]> {
    match status {
        "New" => Some(&["Pending", "Received"]),
        "Active" => Some(&["Accepted"]),
        "Closed" => Some(&["Won", "Lost", "Declined", "Expired"]),
        _ => None,
    }
}

/// A status must be New, Active or Closed, with a substatus allowed for it.
pub(super) fn check_state(status: &str, substatus: Option<&str>) -> Result<(), String> {
    let Some(allowed) = substatuses(status) else {
        return Err(format!(
            "The status '{status}' is not one of New, Active, Closed."
        ));
    };
    match substatus {
        Some(substatus) if allowed.contains(&substatus) => Ok(()),
        _ => Err(format!(
            "The substatus '{}' is not allowed with status '{status}' (allowed: {}).",
            substatus.unwrap_or("null"),
            allowed.join(", ")
        )),
    }
}

/// The transition table: New may move to New, Active or Closed; Active to Active or Closed; Closed is terminal;
/// the substatus must be one allowed for the new status. A change that leaves both untouched is always allowed.
pub(super) fn check_transition(before: &Value, after: &Value) -> Result<(), String> {
    let (old_status, new_status) = (text(before, "status"), text(after, "status"));
    let (old_substatus, new_substatus) = (before.get("substatus"), after.get("substatus"));
    if old_status == new_status && old_substatus == new_substatus {
        return Ok(());
    }
    let next: &[&str] = match old_status {
        "Active" => &["Active", "Closed"],
        "Closed" => &["Closed"],
        // New, and a referral seeded with None or no status.
        _ => &["New", "Active", "Closed"],
    };
    let shown = |status: &str| {
        if status.is_empty() {
            "(none)".to_owned()
        } else {
            status.to_owned()
        }
    };
    if !next.contains(&new_status) {
        return Err(format!(
            "The status transition {} -> {} is not allowed (from {} to {}).",
            shown(old_status),
            shown(new_status),
            shown(old_status),
            next.join(", ")
        ));
    }
    let substatus = new_substatus.and_then(Value::as_str);
    check_state(new_status, substatus).map_err(|_| {
        format!(
            "The transition {old_status}/{} -> {new_status}/{} is not allowed: with status {new_status} the \
             substatus must be one of {}.",
            old_substatus.and_then(Value::as_str).unwrap_or("null"),
            substatus.unwrap_or("null"),
            substatuses(new_status).unwrap_or(&[]).join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn referral(status: &str, substatus: &str) -> Value {
        json!({"status": status, "substatus": substatus})
    }

    #[test]
    fn the_transition_table() {
        let allowed = [
            ("New", "Pending", "New", "Received"),
            ("New", "Pending", "Active", "Accepted"),
            ("New", "Received", "Closed", "Declined"),
            ("New", "Pending", "Closed", "Expired"),
            ("Active", "Accepted", "Active", "Accepted"),
            ("Active", "Accepted", "Closed", "Won"),
            ("Active", "Accepted", "Closed", "Lost"),
            ("None", "None", "New", "Pending"),
        ];
        for (from, from_sub, to, to_sub) in allowed {
            check_transition(&referral(from, from_sub), &referral(to, to_sub))
                .unwrap_or_else(|error| panic!("{from}/{from_sub} -> {to}/{to_sub}: {error}"));
        }
        let refused = [
            ("Active", "Accepted", "New", "Pending", "Active -> New"),
            (
                "New",
                "Pending",
                "Active",
                "Pending",
                "substatus must be one of Accepted",
            ),
            (
                "New",
                "Pending",
                "Closed",
                "Accepted",
                "Won, Lost, Declined, Expired",
            ),
            ("New", "Pending", "New", "Won", "Pending, Received"),
            ("New", "Pending", "None", "None", "New -> None"),
            (
                "Active",
                "Accepted",
                "Closed",
                "",
                "Active/Accepted -> Closed/",
            ),
        ];
        for (from, from_sub, to, to_sub, expected) in refused {
            let error = check_transition(&referral(from, from_sub), &referral(to, to_sub))
                .expect_err(expected);
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn states_on_create() {
        assert!(check_state("New", Some("Pending")).is_ok());
        assert!(check_state("Closed", Some("Expired")).is_ok());
        assert!(check_state("None", Some("None")).is_err());
        assert!(
            check_state("Active", None)
                .expect_err("no substatus")
                .contains("'null'")
        );
    }

    #[test]
    fn closed_is_terminal() {
        assert!(
            check_editable(&referral("Closed", "Won"))
                .expect_err("terminal")
                .contains("terminal")
        );
        assert!(check_editable(&referral("Active", "Accepted")).is_ok());
    }

    #[test]
    fn if_match_compares_exactly() {
        let stored = json!({"eTag": "\"abc\""});
        assert!(if_match_holds("\"abc\"", &stored));
        assert!(if_match_holds("*", &stored));
        assert!(if_match_holds("\"x\", \"abc\"", &stored));
        assert!(!if_match_holds("abc", &stored));
        assert!(!if_match_holds("W/\"abc\"", &stored));
        assert!(!if_match_holds("\"old\"", &stored));
        assert!(!if_match_holds("", &json!({})));
    }
}
