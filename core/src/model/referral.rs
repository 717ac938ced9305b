//! The Partner Center referral (wire shape of DOMAIN.md §2.3): the full JSON object is kept as received, and the
//! parts the rules depend on (id, status, substatus, direction, version) are read and checked once.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::body::Body;
use super::projection::Field;

use super::Version;
use crate::error::{RecordError, shorten};

/// Largest accepted record, in bytes. Large enough for 1 MB notes; small enough that a hostile input cannot
/// exhaust memory.
pub const MAX_RECORD_BYTES: usize = 16 * 1024 * 1024;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire spelling.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => stringify!($variant)),+ } }
            /// Parses the wire spelling (exact case).
            pub fn parse(s: &str) -> Option<Self> { match s { $(stringify!($variant) => Some($name::$variant),)+ _ => None } }
            fn expected() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                format!("one of {}", names.join(", "))
            }
        }
    };
}

wire_enum!(
    /// Referral status (DOMAIN.md §2.4).
    Status {
        /// No status.
        None,
        /// New: not yet accepted.
        New,
        /// Active: accepted and being worked.
        Active,
        /// Closed: terminal (Won, Lost, Declined, Expired).
        Closed,
    }
);

wire_enum!(
    /// Referral substatus (DOMAIN.md §2.4).
    Substatus {
        /// No substatus.
        None,
        /// Waiting for the other party.
        Pending,
        /// Received, not yet acted on.
        Received,
        /// Accepted.
        Accepted,
        /// Closed as won.
        Won,
        /// Closed as lost.
        Lost,
        /// Closed as declined.
        Declined,
        /// Closed because nobody acted in time.
        Expired,
    }
);

wire_enum!(
    /// Who created the referral: `Incoming` came from Microsoft or another partner, `Outgoing` was shared by us.
    Direction {
        /// Received from Microsoft or another partner.
        Incoming,
        /// Shared by this partner.
        Outgoing,
    }
);

impl Status {
    /// The substatuses allowed with this status, and the statuses it may move to (DOMAIN.md §2.4).
    pub fn allowed_substatus(self) -> &'static [Substatus] {
        match self {
            Status::None => &[Substatus::None],
            Status::New => &[Substatus::Pending, Substatus::Received],
            Status::Active => &[Substatus::Accepted],
            Status::Closed => &[
                Substatus::Won,
                Substatus::Lost,
                Substatus::Declined,
                Substatus::Expired,
            ],
        }
    }

    /// Whether Partner Center allows moving a referral from `self` to `next`.
    pub fn may_move_to(self, next: Status) -> bool {
        match self {
            Status::None => true,
            Status::New => matches!(next, Status::New | Status::Active | Status::Closed),
            Status::Active => matches!(next, Status::Active | Status::Closed),
            Status::Closed => next == Status::Closed,
        }
    }
}

/// A Partner Center referral as received: the whole JSON object (unknown fields kept), or the fields a mapping
/// reads (parsed with a [`Projection`](super::Projection)), plus its checked parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Referral {
    body: Body,
    id: String,
    status: Status,
    substatus: Substatus,
    direction: Option<Direction>,
    version: Version,
}

const RECORD: &str = "Partner Center referral";

impl Referral {
    /// Parses a referral from JSON text, keeping every field.
    pub fn parse(text: &str) -> Result<Referral, RecordError> {
        Referral::from_body(Body::parse(RECORD, text, None)?)
    }

    /// Parses a referral from JSON text, validating all of it but reading only the fields `projection` names
    /// (all of them, or with `merge_only` those marked for merging) plus [`Referral::RULE_FIELDS`]. See
    /// [`Projection`](super::Projection).
    pub fn parse_projected(
        text: &str,
        projection: &Arc<super::Projection>,
        merge_only: bool,
    ) -> Result<Referral, RecordError> {
        Referral::from_body(Body::parse(RECORD, text, Some((projection, merge_only)))?)
    }

    /// The top-level fields the rules read, which every referral projection keeps.
    pub const RULE_FIELDS: &'static [&'static str] = &[
        "id",
        "status",
        "substatus",
        "direction",
        "eTag",
        "updatedDateTime",
    ];

    /// Reads a referral from a parsed JSON value.
    pub fn from_value(value: Json) -> Result<Referral, RecordError> {
        Referral::from_body(Body::from_value(RECORD, value)?)
    }

    fn from_body(body: Body) -> Result<Referral, RecordError> {
        let id_field = body.top("id");
        let id = match id_field.as_str() {
            Some(s) if !s.trim().is_empty() => s.into_owned(),
            _ if id_field.is_null() => {
                return Err(RecordError::MissingField {
                    record: RECORD.to_owned(),
                    field: "id".into(),
                    expected: "the referral id (a GUID string)".into(),
                });
            }
            _ => {
                return Err(invalid(
                    RECORD,
                    "id",
                    "a non-empty string",
                    &id_field.to_json(),
                ));
            }
        };
        let record = || format!("{RECORD} {id}");
        let status = body
            .enumerated(&record, "status", Status::parse, Status::expected)?
            .unwrap_or(Status::None);
        let substatus = body
            .enumerated(&record, "substatus", Substatus::parse, Substatus::expected)?
            .unwrap_or(Substatus::None);
        if status != Status::None
            && substatus != Substatus::None
            && !status.allowed_substatus().contains(&substatus)
        {
            let allowed: Vec<&str> = status
                .allowed_substatus()
                .iter()
                .map(|s| s.as_str())
                .collect();
            return Err(RecordError::InvalidField {
                record: record(),
                field: "substatus".into(),
                expected: format!(
                    "with status {} one of {}",
                    status.as_str(),
                    allowed.join(", ")
                ),
                found: substatus.as_str().to_owned(),
            });
        }
        let direction =
            body.enumerated(&record, "direction", Direction::parse, Direction::expected)?;
        let version = Version {
            etag: body.text(&record, "eTag")?,
            modified: body.text(&record, "updatedDateTime")?,
            stamp: None,
        };
        Ok(Referral {
            body,
            id,
            status,
            substatus,
            direction,
            version,
        })
    }

    /// The referral id (a GUID).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The substatus.
    pub fn substatus(&self) -> Substatus {
        self.substatus
    }

    /// `Incoming` or `Outgoing`, when the service said.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// `eTag` and `updatedDateTime`.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// True when the referral is closed (Won, Lost, Declined, Expired): terminal and read-only.
    pub fn is_closed(&self) -> bool {
        self.status == Status::Closed
    }

    /// The value at a JSON pointer (`/details/dealValue`), if present (for a projected referral: if projected).
    pub fn pointer(&self, pointer: &str) -> Option<&Json> {
        self.body.pointer(pointer)
    }

    /// The JSON object: whole (unknown fields included), or for a projected referral its projected fields.
    pub fn json(&self) -> &Map<String, Json> {
        self.body.json()
    }

    /// Gives back the JSON object.
    pub fn into_json(self) -> Map<String, Json> {
        self.body.into_json()
    }

    /// The field at a pointer: by slot when parsed with `projection`, else by walking the tree.
    pub(crate) fn field_at<S: AsRef<str>>(
        &self,
        projection: Option<&Arc<super::Projection>>,
        slot: usize,
        path: &[S],
    ) -> Field<'_> {
        self.body.at(projection, slot, path)
    }
}

/// Looks up an RFC 6901 JSON pointer in an object (`~0`/`~1` escapes, array indexes).
pub(crate) fn pointer_in<'a>(root: &'a Map<String, Json>, pointer: &str) -> Option<&'a Json> {
    let rest = pointer.strip_prefix('/')?;
    let mut segments = rest.split('/');
    let first = segments.next()?;
    let mut cur = if first.contains('~') {
        root.get(&unescape(first))?
    } else {
        root.get(first)?
    };
    for seg in segments {
        cur = match cur {
            Json::Object(m) => {
                if seg.contains('~') {
                    m.get(&unescape(seg))?
                } else {
                    m.get(seg)?
                }
            }
            Json::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

pub(crate) fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

pub(crate) fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

pub(crate) fn invalid(record: &str, field: &str, expected: &str, found: &Json) -> RecordError {
    let shown = match found {
        Json::String(s) => format!("{:?}", shorten(s)),
        other => shorten(&other.to_string()),
    };
    RecordError::InvalidField {
        record: record.to_owned(),
        field: field.to_owned(),
        expected: expected.to_owned(),
        found: shown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"id":"r-1","status":"Active","substatus":"Accepted","direction":"Outgoing",
        "eTag":"\"e1\"","updatedDateTime":"2026-10-01T00:00:00Z","details":{"dealValue":5},"futureField":{"x":[1]}}"#;

    #[test]
    fn keeps_unknown_fields_and_reads_version() {
        let r = Referral::parse(SAMPLE).expect("valid");
        assert_eq!(r.id(), "r-1");
        assert_eq!(r.status(), Status::Active);
        assert_eq!(r.version().etag.as_deref(), Some("\"e1\""));
        assert_eq!(r.pointer("/futureField/x/0"), Some(&Json::from(1)));
        assert_eq!(r.pointer("/details/dealValue"), Some(&Json::from(5)));
        assert!(r.json().contains_key("futureField"));
    }

    #[test]
    fn clear_errors() {
        let e = Referral::parse(r#"{"id":"r-2","status":"Bogus"}"#).expect_err("bad status");
        let msg = e.to_string();
        assert!(
            msg.contains("r-2") && msg.contains("status") && msg.contains("Active"),
            "{msg}"
        );
        let e = Referral::parse(r#"{"id":"r-3","status":"Active","substatus":"Won"}"#)
            .expect_err("bad pair");
        assert!(e.to_string().contains("Accepted"), "{e}");
        assert!(matches!(
            Referral::parse("[1]"),
            Err(RecordError::NotAnObject { .. })
        ));
        assert!(matches!(
            Referral::parse("{"),
            Err(RecordError::InvalidJson { .. })
        ));
        assert!(matches!(
            Referral::parse("{}"),
            Err(RecordError::MissingField { .. })
        ));
        let deep = "[".repeat(100_000);
        assert!(matches!(
            Referral::parse(&deep),
            Err(RecordError::InvalidJson { .. })
        ));
    }

    #[test]
    fn transitions() {
        assert!(Status::New.may_move_to(Status::Active));
        assert!(!Status::Active.may_move_to(Status::New));
        assert!(!Status::Closed.may_move_to(Status::Active));
    }
}
