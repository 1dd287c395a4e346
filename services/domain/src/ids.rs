//! Typed identifiers. Each one can only hold a well-formed value: constructors parse and refuse,
//! so the rest of the code never re-checks a code's shape. Whether a well-formed code names an
//! organisation that exists is the registry's question, not this module's.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a string is not a valid identifier of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} '{value}' is not valid: expected {expected}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl IdError {
    fn new(kind: &'static str, value: &str, expected: &'static str) -> Self {
        // Identifiers are short; a pasted blob would flood a log line or an error detail.
        let value = value.chars().take(80).collect();
        Self {
            kind,
            value,
            expected,
        }
    }
}

/// Declares a string newtype that is parsed by `$check`, serialises as a plain string and
/// describes itself in JSON Schema with `$pattern`.
macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $expected:literal, $pattern:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const KIND: &'static str = $kind;
            pub const PATTERN: &'static str = $pattern;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError::new($kind, s, $expected))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": $pattern, "description": $expected })
            }
        }
    };
}

fn digits(s: &str, len: usize, prefix: &str) -> bool {
    s.len() == len && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_digit())
}

fn slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

string_id!(
    /// An ATS (Agenzia di Tutela della Salute) code from Allegato C, e.g. `321`.
    AtsCode, "ATS code", "three digits starting with 32, e.g. 321", "^32[0-9]$",
    |s| digits(s, 3, "32")
);
string_id!(
    /// An ASST (Azienda Socio-Sanitaria Territoriale) code from Allegato C, e.g. `705`.
    AsstCode, "ASST code", "three digits starting with 7, e.g. 705", "^7[0-9]{2}$",
    |s| digits(s, 3, "7")
);
string_id!(
    /// An Ambito territoriale code from Allegato C, e.g. `50032` (Magentino).
    AmbitoCode, "Ambito code", "five digits starting with 500, e.g. 50032", "^500[0-9]{2}$",
    |s| digits(s, 5, "500")
);
string_id!(
    /// A Distretto code from Allegato C, e.g. `22004` (Magentino).
    DistrettoCode, "Distretto code", "five digits starting with 22, e.g. 22004", "^22[0-9]{3}$",
    |s| digits(s, 5, "22")
);
string_id!(
    /// The national SIOSS code of an Ambito, e.g. `lom_57`.
    SiossCode, "SIOSS code", "lom_ followed by a number, e.g. lom_57", "^lom_[1-9][0-9]*$",
    |s| s.strip_prefix("lom_").is_some_and(|n| {
        !n.is_empty() && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
    })
);
string_id!(
    /// A Comune, by the slug of its name in the registry, e.g. `cinisello-balsamo`.
    ComuneId, "Comune id", "lowercase words joined by '-', e.g. cinisello-balsamo",
    "^[a-z0-9]+(-[a-z0-9]+)*$", slug
);
string_id!(
    /// A body that delivers social services for Comuni (an azienda speciale consortile), e.g. `ipis`.
    EnteId, "delivering body id", "lowercase words joined by '-', e.g. ipis",
    "^[a-z0-9]+(-[a-z0-9]+)*$", slug
);
string_id!(
    /// A Centro per la Famiglia, by the slug of its name in the registry.
    CentroId, "Centro per la Famiglia id", "lowercase words joined by '-'",
    "^[a-z0-9]+(-[a-z0-9]+)*$", slug
);
string_id!(
    /// The operator acting for an organisation, as the tokens file names them.
    OperatorId, "operator id", "1 to 128 letters, digits or . _ @ -",
    "^[A-Za-z0-9._@-]{1,128}$",
    |s| (1..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
);
string_id!(
    /// The client's idempotency key for one command. Retrying with the same id returns the first answer.
    CommandId, "command id", "1 to 128 letters, digits or . _ : -, e.g. a UUID",
    "^[A-Za-z0-9._:-]{1,128}$",
    |s| (1..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
);
string_id!(
    /// The id of one event: derived from the issuing organisation and its command id, so a retried
    /// command maps to the same event (it is the `Nats-Msg-Id` and the CloudEvents `id`).
    EventId, "event id", "32 lowercase hex digits", "^[0-9a-f]{32}$",
    |s| lower_hex(s, 32)
);
string_id!(
    /// A person, pseudonymously: the keyed HMAC-SHA256 of their codice fiscale, in hex.
    SubjectRef, "subject_ref", "64 lowercase hex digits", "^[0-9a-f]{64}$",
    |s| lower_hex(s, 64)
);
string_id!(
    /// One integrated-care pathway: the kind's prefix and 20 hex digits, e.g. `dp-1f3a…`.
    PathwayId, "pathway id", "dp-, pua- or cpf- followed by 20 lowercase hex digits",
    "^(dp|pua|cpf)-[0-9a-f]{20}$",
    |s| s.split_once('-').is_some_and(|(prefix, rest)| {
        PathwayKind::from_prefix(prefix).is_some() && lower_hex(rest, 20)
    })
);

impl EventId {
    /// The event id of a command that opens a pathway of `kind`: the same organisation, command
    /// id and kind always give the same id. The kind is part of the key so that one command id
    /// sent to open two kinds of pathway is two commands, not one event id on two pathways.
    pub fn derive(org: &OrgId, command: &CommandId, kind: PathwayKind) -> Self {
        let digest = Sha256::new()
            .chain_update(org.to_string())
            .chain_update([0])
            .chain_update(command.as_str())
            .chain_update([0])
            .chain_update(kind.subject_token())
            .finalize();
        Self(hex::encode(&digest[..16]))
    }
}

impl EventId {
    /// The event id of a command on an existing pathway: the pathway is part of the key, so a
    /// command id reused on another pathway cannot collide with the first event.
    pub fn derive_on(org: &OrgId, command: &CommandId, pathway: &PathwayId) -> Self {
        let digest = Sha256::new()
            .chain_update(org.to_string())
            .chain_update([0])
            .chain_update(command.as_str())
            .chain_update([0])
            .chain_update(pathway.as_str())
            .finalize();
        Self(hex::encode(&digest[..16]))
    }
}

impl SubjectRef {
    /// Wraps a 32-byte digest (see `identity::SubjectKey`).
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(hex::encode(digest))
    }
}

impl PathwayId {
    /// The id of the pathway a command opens, derived from that command's event id so that a
    /// retried opening command finds the pathway it already opened.
    pub fn derive(kind: PathwayKind, opening: &EventId) -> Self {
        let digest = Sha256::new()
            .chain_update(kind.subject_token())
            .chain_update([0])
            .chain_update(opening.as_str())
            .finalize();
        Self(format!("{}-{}", kind.prefix(), &hex::encode(&digest[..10])))
    }

    pub fn kind(&self) -> PathwayKind {
        let prefix = self.0.split('-').next().unwrap_or_default();
        PathwayKind::from_prefix(prefix).expect("a PathwayId always carries a valid prefix")
    }
}

/// The three kinds of integrated-care pathway raccordo carries.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PathwayKind {
    /// Protected hospital discharge (LEPS "dimissioni protette").
    DimissioneProtetta,
    /// Intake at a Punto Unico di Accesso.
    Pua,
    /// Referral of a family to a Centro per la Famiglia.
    CentroFamiglia,
}

impl PathwayKind {
    pub const ALL: [PathwayKind; 3] = [Self::DimissioneProtetta, Self::Pua, Self::CentroFamiglia];

    /// The token naming the kind in NATS subjects and CloudEvents types.
    pub fn subject_token(self) -> &'static str {
        match self {
            Self::DimissioneProtetta => "dimissione_protetta",
            Self::Pua => "pua",
            Self::CentroFamiglia => "centro_famiglia",
        }
    }

    pub fn prefix(self) -> &'static str {
        match self {
            Self::DimissioneProtetta => "dp",
            Self::Pua => "pua",
            Self::CentroFamiglia => "cpf",
        }
    }

    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.prefix() == prefix)
    }

    pub fn from_subject_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.subject_token() == token)
    }
}

impl fmt::Display for PathwayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.subject_token())
    }
}

/// The kind of an organisation taking part in pathways.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    Ats,
    Asst,
    /// An Ambito's Ufficio di Piano.
    Ambito,
    Comune,
    /// A body delivering social services for Comuni (azienda speciale consortile).
    Ente,
    /// A Centro per la Famiglia.
    Centro,
}

impl OrgKind {
    pub const ALL: [OrgKind; 6] = [
        Self::Ats,
        Self::Asst,
        Self::Ambito,
        Self::Comune,
        Self::Ente,
        Self::Centro,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ats => "ats",
            Self::Asst => "asst",
            Self::Ambito => "ambito",
            Self::Comune => "comune",
            Self::Ente => "ente",
            Self::Centro => "centro",
        }
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An organisation (a party), written `kind:code`: `asst:705`, `ats:321`, `ambito:50032`,
/// `comune:magenta`, `ente:ipis`, `centro:<slug>`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum OrgId {
    Ats(AtsCode),
    Asst(AsstCode),
    Ambito(AmbitoCode),
    Comune(ComuneId),
    Ente(EnteId),
    Centro(CentroId),
}

impl OrgId {
    pub const PATTERN: &'static str = "^(ats:32[0-9]|asst:7[0-9]{2}|ambito:500[0-9]{2}|(comune|ente|centro):[a-z0-9]+(-[a-z0-9]+)*)$";

    pub fn kind(&self) -> OrgKind {
        match self {
            Self::Ats(_) => OrgKind::Ats,
            Self::Asst(_) => OrgKind::Asst,
            Self::Ambito(_) => OrgKind::Ambito,
            Self::Comune(_) => OrgKind::Comune,
            Self::Ente(_) => OrgKind::Ente,
            Self::Centro(_) => OrgKind::Centro,
        }
    }

    /// The code after the `kind:` prefix.
    pub fn code(&self) -> &str {
        match self {
            Self::Ats(c) => c.as_str(),
            Self::Asst(c) => c.as_str(),
            Self::Ambito(c) => c.as_str(),
            Self::Comune(c) => c.as_str(),
            Self::Ente(c) => c.as_str(),
            Self::Centro(c) => c.as_str(),
        }
    }

    /// A form usable as one NATS subject token (no dots or wildcards): `asst_705`.
    pub fn subject_token(&self) -> String {
        format!("{}_{}", self.kind(), self.code())
    }
}

impl FromStr for OrgId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || {
            IdError::new(
                "organisation id",
                s,
                "kind:code, e.g. asst:705, comune:magenta",
            )
        };
        let (kind, code) = s.split_once(':').ok_or_else(bad)?;
        Ok(match kind {
            "ats" => Self::Ats(code.parse()?),
            "asst" => Self::Asst(code.parse()?),
            "ambito" => Self::Ambito(code.parse()?),
            "comune" => Self::Comune(code.parse()?),
            "ente" => Self::Ente(code.parse()?),
            "centro" => Self::Centro(code.parse()?),
            _ => return Err(bad()),
        })
    }
}

impl TryFrom<String> for OrgId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<OrgId> for String {
    fn from(id: OrgId) -> String {
        id.to_string()
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.code())
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({self})")
    }
}

impl JsonSchema for OrgId {
    fn schema_name() -> Cow<'static, str> {
        "OrgId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": OrgId::PATTERN,
            "description": "an organisation as kind:code, e.g. asst:705, comune:magenta"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_only_their_shape() {
        assert!("705".parse::<AsstCode>().is_ok());
        assert!("605".parse::<AsstCode>().is_err());
        assert!("7055".parse::<AsstCode>().is_err());
        assert!("50032".parse::<AmbitoCode>().is_ok());
        assert!("51032".parse::<AmbitoCode>().is_err());
        assert!("lom_57".parse::<SiossCode>().is_ok());
        assert!("lom_057".parse::<SiossCode>().is_err());
        assert!("cinisello-balsamo".parse::<ComuneId>().is_ok());
        assert!("Cinisello Balsamo".parse::<ComuneId>().is_err());
        assert!("a--b".parse::<ComuneId>().is_err());
    }

    #[test]
    fn org_ids_round_trip_through_text_and_json() {
        for text in [
            "ats:321",
            "asst:705",
            "ambito:50032",
            "comune:magenta",
            "ente:ipis",
        ] {
            let org: OrgId = text.parse().unwrap();
            assert_eq!(org.to_string(), text);
            let json = serde_json::to_string(&org).unwrap();
            assert_eq!(serde_json::from_str::<OrgId>(&json).unwrap(), org);
        }
        assert!("asst:50032".parse::<OrgId>().is_err());
        assert!("hospital:1".parse::<OrgId>().is_err());
        assert!(serde_json::from_str::<OrgId>("\"asst\"").is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_namespaced_by_organisation() {
        let cmd: CommandId = "c-1".parse().unwrap();
        let a = EventId::derive(&"asst:705".parse().unwrap(), &cmd, PathwayKind::Pua);
        let b = EventId::derive(&"asst:707".parse().unwrap(), &cmd, PathwayKind::Pua);
        assert_ne!(a, b);
        assert_eq!(
            a,
            EventId::derive(&"asst:705".parse().unwrap(), &cmd, PathwayKind::Pua)
        );
        assert_ne!(
            a,
            EventId::derive(
                &"asst:705".parse().unwrap(),
                &cmd,
                PathwayKind::DimissioneProtetta
            )
        );
        let p = PathwayId::derive(PathwayKind::Pua, &a);
        assert!(p.as_str().starts_with("pua-"));
        assert_eq!(
            p.as_str().parse::<PathwayId>().unwrap().kind(),
            PathwayKind::Pua
        );
    }
}
